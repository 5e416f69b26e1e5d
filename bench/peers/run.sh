#!/bin/sh
# make bench-peers: kiln beside numpy, numexpr, MLX, JAX and torch.
#
# Creates the benchmark environment build/peers-venv (once; kept between
# runs) and installs each peer into it separately, so that a peer that cannot
# be had only drops out of the table. kiln itself is not installed there: the
# repository's python/ folder goes on PYTHONPATH, with the extension that
# `make pyext` built for the same Python. Then runs bench/peers/bench.py,
# which prints the table and writes build/bench-peers.json.
#
# Environment: PYTHON (default python3), KILN_BENCH_SMALL=1 for small shapes,
# KILN_PEERS_OFFLINE=1 to skip installing (use what the venv has).
set -u
cd "$(dirname "$0")/../.." || exit 1
PYTHON=${PYTHON:-python3}
VENV=build/peers-venv
PY=$VENV/bin/python

if [ ! -x "$PY" ]; then
    mkdir -p build
    if ! "$PYTHON" -m venv "$VENV"; then
        echo "bench-peers: cannot create $VENV"
        exit 1
    fi
fi

# One peer a line: the import name, then what pip installs. torch is pinned
# to the CPU build (the +cpu local version): a machine without that wheel
# drops torch rather than pulling a CUDA build and its gigabytes.
missing=""
install() {
    mod=$1; shift
    if "$PY" -c "import $mod" >/dev/null 2>&1; then
        return 0
    fi
    if [ "${KILN_PEERS_OFFLINE:-0}" = 1 ]; then
        missing="$missing $mod"
        return 0
    fi
    echo "bench-peers: installing $*"
    if ! "$PY" -m pip install -q --disable-pip-version-check "$@" \
        >"build/peers-pip-$mod.log" 2>&1; then
        echo "bench-peers: could not install $* (see build/peers-pip-$mod.log)"
        missing="$missing $mod"
    fi
}

install numpy numpy
install numexpr numexpr
install mlx.core "mlx[cpu]"
install jax "jax[cpu]"
install torch "torch==2.13.0+cpu"
if [ -n "$missing" ]; then
    echo "bench-peers: not available:$missing (left out of the table)"
fi

if ! "$PY" -c "import numpy" >/dev/null 2>&1; then
    echo "bench-peers: numpy is required"; exit 1
fi
if ! ls python/kiln/_kiln*.so >/dev/null 2>&1; then
    echo "bench-peers: python/kiln/_kiln*.so is missing: run make pyext"
fi
PYTHONPATH="$(pwd)/python${PYTHONPATH:+:$PYTHONPATH}" \
    exec "$PY" bench/peers/bench.py "$@"
