"""Packaging for kiln's Python module.

The extension kiln._kiln is built by the Makefile (`make pyext`), which
compiles python/src/*.c against include/kiln.h and links the core library
statically; this file only asks make for it and copies it into place, so
`pip install .` and `make` build the same thing the same way.
"""
import os
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


class MakeExt(build_ext):
    def build_extension(self, ext):
        subprocess.check_call(["make", "-C", ROOT, "--no-print-directory",
                               "pyext", "PYTHON=" + sys.executable])
        built = os.path.join(ROOT, "python", "kiln",
                             "_kiln" + sysconfig.get_config_var("EXT_SUFFIX"))
        dest = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if os.path.abspath(dest) != os.path.abspath(built):
            shutil.copyfile(built, dest)


setup(
    packages=["kiln"],
    package_dir={"": "python"},
    ext_modules=[Extension("kiln._kiln", sources=[])],
    cmdclass={"build_ext": MakeExt},
)
