"""kiln: lazy arrays and a function compiler for the CPU, with mlx.core's
API (`import kiln as mx`).

Packaging glue only; everything is in the C extension kiln._kiln. Debian 12's
OpenBLAS does not know newer x86 CPUs and falls back to slow generic
kernels; it reads OPENBLAS_CORETYPE when it loads, so the hint is set here,
before the extension (which links it) is imported. A value the user set is
kept. OPENBLAS_NUM_THREADS is 1 while it loads (below).
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

# kiln runs OpenBLAS on one thread per call (its own pool splits the work),
# but OpenBLAS starts a thread per core when it loads, and those spin for
# about 0.1 s, taking cores from kiln's threads (a process's first matmuls
# ran at half speed). So it loads with OPENBLAS_NUM_THREADS=1; the user's
# setting is restored at once, for a NumPy imported later.
_nt = _os.environ.get("OPENBLAS_NUM_THREADS")
_os.environ["OPENBLAS_NUM_THREADS"] = "1"
try:
    from ._kiln import *  # noqa: E402,F401,F403
    from . import _kiln  # noqa: E402
finally:
    if _nt is None:
        del _os.environ["OPENBLAS_NUM_THREADS"]
    else:
        _os.environ["OPENBLAS_NUM_THREADS"] = _nt

# Submodules made by the extension, importable as kiln.random etc.
for _name in ("random", "metal", "cuda", "linalg"):
    _mod = getattr(_kiln, _name, None)
    if _mod is not None:
        _sys.modules[__name__ + "." + _name] = _mod
