"""kiln: lazy arrays and a function compiler for the CPU, with mlx.core's
API (`import kiln as mx`).

Packaging glue only; everything is in the C extension kiln._kiln. Debian 12's
OpenBLAS does not know newer x86 CPUs and falls back to slow generic
kernels; it reads OPENBLAS_CORETYPE when it loads, so the hint is set here,
before the extension (which links it) is imported. A value the user set is
kept.
"""
import os as _os
import sys as _sys


def _openblas_coretype():
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((l for l in f if l.startswith("flags")), "").split()
    except OSError:
        return None
    if "avx512f" in flags:
        return "SkylakeX"
    if "avx2" in flags:
        return "Haswell"
    return None


if "OPENBLAS_CORETYPE" not in _os.environ:
    _ct = _openblas_coretype()
    if _ct:
        _os.environ["OPENBLAS_CORETYPE"] = _ct

from ._kiln import *  # noqa: E402,F401,F403
from . import _kiln  # noqa: E402

# Submodules made by the extension, importable as kiln.random etc.
for _name in ("random", "metal", "cuda"):
    _mod = getattr(_kiln, _name, None)
    if _mod is not None:
        _sys.modules[__name__ + "." + _name] = _mod
