"""examples/gelu.py - the gelu example of MLX's compile documentation, run
with kiln (`import kiln as mx`).

`make demo` runs it after the C examples. It times gelu eager (five lazy
ops, each a pass over memory) and compiled (one fused kernel), prints the
time per call of each and the speedup, and the largest difference of the
compiled result from numpy's gelu in float64 (math.erf over a slice: numpy
has no erf of its own).

The documentation's input is (32, 1000, 4096) float32 (512 MB); with
KILN_BENCH_SMALL=1 or CI=true it is (4, 1000, 4096), so the demo stays short.
"""
import math
import os
import time

import numpy as np

import kiln as mx


def gelu(x):
    return x * (1 + mx.erf(x / math.sqrt(2))) / 2


def timeit(fun, x, reps):
    """Milliseconds per call: one warm-up call (it compiles), then the mean
    of reps calls, each evaluated."""
    mx.eval(fun(x))
    tic = time.perf_counter()
    for _ in range(reps):
        mx.eval(fun(x))
    toc = time.perf_counter()
    return 1e3 * (toc - tic) / reps


def main():
    small = (os.environ.get("KILN_BENCH_SMALL") == "1"
             or os.environ.get("CI") == "true")
    shape = (4, 1000, 4096) if small else (32, 1000, 4096)
    reps = 5 if small else 3
    mx.random.seed(0)
    x = mx.random.uniform(shape=shape)
    mx.eval(x)

    compiled = mx.compile(gelu)
    t_eager = timeit(gelu, x, reps)
    t_comp = timeit(compiled, x, reps)
    print("gelu on %s float32 (%.0f MB)" % (shape, x.nbytes / 1e6))
    print("  eager:    %8.2f ms per call" % t_eager)
    print("  compiled: %8.2f ms per call" % t_comp)
    print("  speedup:  %8.2fx" % (t_eager / t_comp))

    # numpy's gelu in float64, over the first rows of the input.
    xs = np.array(x[0, :16]).astype(np.float64)
    erf = np.vectorize(math.erf, otypes=[np.float64])
    want = xs * (1 + erf(xs / math.sqrt(2))) / 2
    got = np.array(compiled(x)[0, :16]).astype(np.float64)
    got_eager = np.array(gelu(x)[0, :16]).astype(np.float64)
    print("  largest difference from numpy (float64, %d values): "
          "compiled %.3g, eager %.3g" % (
              want.size, np.abs(got - want).max(),
              np.abs(got_eager - want).max()))


if __name__ == "__main__":
    main()
