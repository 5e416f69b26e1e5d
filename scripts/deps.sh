#!/bin/sh
# deps.sh - find (and, with "install", install) kiln's one optional
# dependency, CBLAS from OpenBLAS.
#   deps.sh install   apt-get install libopenblas-dev when missing and root
#   deps.sh cflags    compiler flags: -DKILN_HAVE_CBLAS and the include dir
#   deps.sh libs      linker flags
#   deps.sh coretype  an OPENBLAS_CORETYPE for CPUs OpenBLAS 0.3.21 does
#                     not recognise (it falls back to slow generic kernels)
find_header() {
    for d in /usr/include/x86_64-linux-gnu /usr/include/aarch64-linux-gnu \
             /usr/include/openblas /usr/include; do
        if [ -f "$d/cblas.h" ]; then echo "$d"; return 0; fi
    done
    return 1
}
case "$1" in
install)
    if ! find_header >/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "deps: installing libopenblas-dev"
            (apt-get install -y libopenblas-dev >/dev/null 2>&1 ||
             (apt-get update >/dev/null 2>&1 &&
              apt-get install -y libopenblas-dev >/dev/null 2>&1)) ||
                echo "deps: could not install OpenBLAS; matmul uses kiln loops"
        else
            echo "deps: no cblas.h and cannot apt-get; matmul uses kiln loops"
        fi
    fi
    ;;
cflags)
    d=$(find_header) && echo "-DKILN_HAVE_CBLAS -I$d"
    ;;
libs)
    find_header >/dev/null && echo "-lopenblas"
    ;;
coretype)
    # Newer Xeons (e.g. family 6 model 207) are unknown to Debian 12's
    # OpenBLAS, which then picks its "Prescott" kernels: about 5x slower
    # sgemm than the SkylakeX kernels these CPUs run fine.
    if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
        echo SkylakeX
    elif grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
        echo Haswell
    fi
    ;;
esac
exit 0
