"""kiln.compile from Python: every example of MLX's compile documentation
(docs/src/usage/compile.rst) rewritten as a test, trace counts seen with a
counter inside the compiled function, captured state, trees, errors,
garbage collection and threads. numpy is the oracle; compiled results must
equal the uncompiled function's."""
import collections
import functools
import gc
import math
import re
import threading
import weakref
from functools import partial

import numpy as np
import pytest

import kiln as mx

needs_grad = pytest.mark.skipif(not hasattr(mx, "value_and_grad"),
                                reason="kiln.grad not written yet")
needs_random = pytest.mark.skipif(
    not hasattr(mx, "random") or not hasattr(mx.random, "state"),
    reason="kiln.random not written yet")


@pytest.fixture(autouse=True)
def compile_enabled():
    mx.enable_compile()
    yield
    mx.enable_compile()


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.array(a), np.array(b), rtol=tol, atol=tol)


def traces(f):
    return f.stats()["traces"]


# ------------------------------------------------------------------ #
# basics of compile                                                  #
# ------------------------------------------------------------------ #

def test_basic_example():
    def fun(x, y):
        return mx.exp(-x) + y

    x = mx.array(1.0)
    y = mx.array(2.0)
    compiled_fun = mx.compile(fun)
    out = compiled_fun(x, y)
    assert isinstance(out, mx.array) and out.dtype == mx.float32
    close(out, fun(x, y))
    close(out, np.exp(-1.0) + 2.0)


def test_no_recompile_second_call_or_compile_again():
    runs = []

    def fun(x, y):
        runs.append(1)
        return mx.exp(-x) + y

    x = mx.array(1.0)
    y = mx.array(2.0)
    compiled_fun = mx.compile(fun)
    compiled_fun(x, y)
    compiled_fun(x, y)
    close(mx.compile(fun)(x, y), fun(x, y))
    assert len(runs) == 2  # one trace, one plain call
    s = compiled_fun.stats()
    assert s["traces"] == 1 and s["cache_hits"] == 2 and s["calls"] == 3
    assert mx.compile_stats(compiled_fun)["traces"] == 1


def test_recompile_triggers():
    runs = []

    def fun(*args):
        runs.append(1)
        out = args[0]
        for a in args[1:]:
            out = out + a
        return out * 2

    f = mx.compile(fun)
    x = mx.array(np.arange(6, dtype=np.float32).reshape(2, 3))
    f(x, x)
    f(x + 1, x)
    assert len(runs) == 1
    f(mx.array(np.ones((3, 2), np.float32)), x.T)  # shape
    assert len(runs) == 2
    f(mx.array(np.ones((6,), np.float32)), mx.array(np.ones(6, np.float32)))
    assert len(runs) == 3  # ndim
    f(x.astype(mx.float16), x.astype(mx.float16))  # dtype
    assert len(runs) == 4
    f(x, x, x)  # input count
    assert len(runs) == 5
    f(x, x)  # back to the first signature: cached
    assert len(runs) == 5
    assert traces(f) == 5


def test_recompile_on_constant_value_and_structure():
    runs = []

    def fun(x, n, flag=False, name="a"):
        runs.append(1)
        y = x * n
        return -y if flag else y

    f = mx.compile(fun)
    x = mx.array([1.0, 2.0])
    close(f(x, 3), [3, 6])
    close(f(x + 1, 3), [6, 9])
    assert len(runs) == 1
    close(f(x, 4), [4, 8])
    assert len(runs) == 2
    close(f(x, 4.0), [4, 8])  # float 4.0 is not int 4
    assert len(runs) == 3
    close(f(x, 1, flag=True), [-1, -2])
    close(f(x, 1, True), [-1, -2])  # positional vs keyword differ
    assert len(runs) == 5
    close(f(x, True), [1, 2])  # True is not 1
    f(x, 1, name="b")
    assert len(runs) == 7
    f(x, 1, name="b")
    assert len(runs) == 7


def test_results_equal_uncompiled_for_many_functions():
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((4, 5)).astype(np.float32)
    ys = rng.standard_normal((5,)).astype(np.float32)

    def gelu(x):
        return x * (1 + mx.erf(x / math.sqrt(2))) / 2

    funs = [
        gelu,
        lambda x, y: mx.softmax(x * y, axis=-1),
        lambda x, y: mx.sum(mx.exp(x) * y, axis=1),
        lambda x, y: (x - mx.mean(x, axis=-1, keepdims=True)) /
        mx.sqrt(mx.var(x, axis=-1, keepdims=True) + 1e-5),
        lambda x, y: mx.maximum(x, 0) + mx.abs(y),
        lambda x, y: mx.where(x > 0, x, y * 2),
        lambda x, y: mx.logsumexp(x, axis=0) + y,
    ]
    for fun in funs:
        x, y = mx.array(xs), mx.array(ys)
        args = (x,) if fun is gelu else (x, y)
        close(mx.compile(fun)(*args), fun(*args), tol=1e-5)


def test_compile_lambda_in_loop_is_bounded():
    a = mx.array(1.0)
    for _ in range(5):
        close(mx.compile(lambda x: mx.exp(mx.abs(x)))(a), math.e)
    gc.collect()
    # each lambda is a new function with its own cache, dropped with it
    import tracemalloc
    tracemalloc.start()
    for _ in range(30):
        mx.compile(lambda x: mx.exp(mx.abs(x)))(a)
    gc.collect()
    first, _ = tracemalloc.get_traced_memory()
    for _ in range(60):
        mx.compile(lambda x: mx.exp(mx.abs(x)))(a)
    gc.collect()
    second, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert second - first < 64 * 1024


def test_gelu_example():
    def gelu(x):
        return x * (1 + mx.erf(x / math.sqrt(2))) / 2

    x = mx.array(np.random.default_rng(1).uniform(size=(32, 100, 64))
                 .astype(np.float32))
    cg = mx.compile(gelu)
    for _ in range(3):
        mx.eval(cg(x))
    close(cg(x), gelu(x), tol=1e-6)
    assert traces(cg) == 1


# ------------------------------------------------------------------ #
# debugging                                                          #
# ------------------------------------------------------------------ #

def test_eval_inside_compiled_function_raises():
    @mx.compile
    def fun(x):
        z = -x
        print(z)
        return mx.exp(z)

    with pytest.raises(ValueError, match="traced"):
        fun(mx.array(5.0))

    @mx.compile
    def item(x):
        return x * x.item()

    with pytest.raises(ValueError, match="traced"):
        item(mx.array(5.0))

    @mx.compile
    def to_numpy(x):
        return x * float(np.array(x).sum())

    with pytest.raises(ValueError, match="traced"):
        to_numpy(mx.array([5.0]))


def test_disable_compile_allows_eval(capsys):
    runs = []

    @mx.compile
    def fun(x):
        z = -x
        runs.append(z.item())
        print(z)
        return mx.exp(z)

    mx.disable_compile()
    close(fun(mx.array(5.0)), np.exp(-5.0))
    close(fun(mx.array(4.0)), np.exp(-4.0))
    assert runs == [-5.0, -4.0]
    assert "-5" in capsys.readouterr().out
    s = fun.stats()
    assert s["bypassed"] == 2 and s["traces"] == 0
    mx.enable_compile()
    with pytest.raises(ValueError):
        fun(mx.array(5.0))


def test_compiled_function_used_after_disable_compile():
    runs = []

    def fun(x, y):
        runs.append(1)
        return {"s": x + y, "p": (x * y, 3)}

    f = mx.compile(fun)
    x, y = mx.array([1.0, 2.0]), mx.array([3.0, 4.0])
    a = f(x, y)
    mx.disable_compile()
    b = f(x, y)
    b2 = f(x, y)
    mx.enable_compile()
    c = f(x, y)
    assert len(runs) == 3  # the trace and two direct calls
    for r in (a, b, b2, c):
        close(r["s"], [4, 6])
        close(r["p"][0], [3, 8])
        assert r["p"][1] == 3
    assert traces(f) == 1


# ------------------------------------------------------------------ #
# pure functions and captured state                                  #
# ------------------------------------------------------------------ #

def test_side_effect_leaves_placeholder():
    state = []

    @mx.compile
    def fun(x, y):
        z = x + y
        state.append(z)
        return mx.exp(z)

    fun(mx.array(1.0), mx.array(2.0))
    # the list holds a placeholder: reading it raises, never crashes
    with pytest.raises(ValueError):
        state[0].item()


def test_state_returned_as_output():
    state = []

    @mx.compile
    def fun(x, y):
        z = x + y
        state.append(z)
        return mx.exp(z), state

    _, state = fun(mx.array(1.0), mx.array(2.0))
    assert isinstance(state, list) and len(state) == 1
    close(state[0], 3.0)


def test_outputs_capture():
    state = []

    @partial(mx.compile, outputs=state)
    def fun(x, y):
        z = x + y
        state.append(z)
        return mx.exp(z)

    out = fun(mx.array(1.0), mx.array(2.0))
    close(out, np.exp(3.0))
    assert len(state) == 1
    close(state[0], 3.0)
    # later calls replay: the slot takes the new value, nothing appends
    fun(mx.array(2.0), mx.array(2.0))
    fun(mx.array(5.0), mx.array(2.0))
    assert len(state) == 1
    close(state[0], 7.0)
    assert traces(fun) == 1


def test_closure_constants_are_frozen():
    state = [mx.array(1.0)]

    @mx.compile
    def fun(x):
        return x + state[0]

    close(fun(mx.array(1.0)), 2.0)
    state[0] = mx.array(5.0)
    close(fun(mx.array(1.0)), 2.0)


def test_state_passed_as_input():
    state = [mx.array(1.0)]

    @mx.compile
    def fun(x, state):
        return x + state[0]

    close(fun(mx.array(1.0), state), 2.0)
    state[0] = mx.array(5.0)
    close(fun(mx.array(1.0), state), 6.0)
    assert traces(fun) == 1


def test_inputs_capture():
    state = [mx.array(1.0)]

    @partial(mx.compile, inputs=state)
    def fun(x):
        return x + state[0]

    close(fun(mx.array(1.0)), 2.0)
    state[0] = mx.array(5.0)
    close(fun(mx.array(1.0)), 6.0)
    assert traces(fun) == 1
    # the captured array is restored after the trace
    assert state[0].item() == 5.0
    # one more captured array is another signature
    state.append(mx.array(10.0))
    close(fun(mx.array(1.0)), 6.0)
    assert traces(fun) == 2


def test_inputs_and_outputs_counter():
    st = {"count": mx.array(0), "hist": [mx.array([0.0, 0.0])]}
    runs = []

    @partial(mx.compile, inputs=st, outputs=st)
    def step(x):
        runs.append(1)
        st["count"] = st["count"] + 1
        st["hist"][0] = st["hist"][0] + x
        return x * 2

    for i in range(5):
        close(step(mx.array([1.0, float(i)])), [2.0, 2.0 * i])
    assert len(runs) == 1
    assert st["count"].item() == 5
    close(st["hist"][0], [5.0, 10.0])
    # the outputs are real arrays now: the same values eagerly
    assert isinstance(st["count"], mx.array)


def test_unchanged_captured_state_keeps_its_objects():
    w = mx.array([1.0, 2.0])
    st = [w, mx.array(0.0)]

    @partial(mx.compile, inputs=st, outputs=st)
    def step(x):
        st[1] = st[1] + mx.sum(st[0] * x)
        return st[1]

    close(step(mx.array([1.0, 1.0])), 3.0)
    close(step(mx.array([1.0, 1.0])), 6.0)
    assert st[0] is w
    close(w, [1.0, 2.0])


def test_captured_arrays_in_tuples_update_in_place():
    a = mx.array(1.0)
    st = {"t": (a, 7)}

    @partial(mx.compile, inputs=st, outputs=st)
    def step(x):
        # the tuple cannot change: its array is updated in place
        st["t"][0][...] = st["t"][0] + x
        return x * 2

    close(step(mx.array(1.0)), 2.0)
    close(step(mx.array(2.0)), 4.0)
    assert st["t"][0] is a and st["t"][1] == 7
    close(a, 4.0)
    assert traces(step) == 1


def test_outputs_structure_change_raises():
    st = [mx.array(1.0)]

    @partial(mx.compile, outputs=st)
    def step(x):
        st[0] = x + 1
        return x

    step(mx.array(1.0))
    st.append(mx.array(2.0))
    with pytest.raises(ValueError, match="captured outputs"):
        step(mx.array(1.0))


def test_bad_inputs_outputs_types():
    with pytest.raises(TypeError):
        mx.compile(lambda x: x, inputs=3)
    with pytest.raises(TypeError):
        mx.compile(lambda x: x, outputs="s")
    with pytest.raises(TypeError):
        mx.compile(3)


# ------------------------------------------------------------------ #
# training graphs                                                    #
# ------------------------------------------------------------------ #

def make_data():
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(4, 10)).astype(np.float32)
    y = np.array([0, 1, 0, 1], np.float32)
    w = (rng.standard_normal((10, 1)) * 0.1).astype(np.float32)
    return x, y, w


def bce(logits, y):
    # binary cross entropy with logits, mean over the batch
    return mx.mean(mx.logaddexp(0.0, logits) - y * logits)


def train(compiled, optimiser, steps=10):
    xs, ys, w0 = make_data()
    x, y = mx.array(xs), mx.array(ys)
    model = {"weight": mx.array(w0), "bias": mx.zeros((1,))}
    opt = {"m": {"weight": mx.zeros((10, 1)), "bias": mx.zeros((1,))},
           "v": {"weight": mx.zeros((10, 1)), "bias": mx.zeros((1,))},
           "t": mx.array(0.0)}

    def loss_fn(params, x, y):
        logits = mx.squeeze(mx.matmul(x, params["weight"]) + params["bias"])
        return bce(logits, y)

    loss_and_grad = mx.value_and_grad(loss_fn)

    def update(grads):
        if optimiser == "sgd":
            for k in model:
                opt["m"][k] = 0.8 * opt["m"][k] + grads[k]
                model[k] = model[k] - 0.1 * opt["m"][k]
        else:
            b1, b2, lr, eps = 0.9, 0.999, 0.05, 1e-8
            opt["t"] = opt["t"] + 1
            for k in model:
                opt["m"][k] = b1 * opt["m"][k] + (1 - b1) * grads[k]
                opt["v"][k] = b2 * opt["v"][k] + (1 - b2) * mx.square(
                    grads[k])
                mh = opt["m"][k] / (1 - mx.power(b1, opt["t"]))
                vh = opt["v"][k] / (1 - mx.power(b2, opt["t"]))
                model[k] = model[k] - lr * mh / (mx.sqrt(vh) + eps)

    state = [model, opt]
    runs = []

    def step(x, y):
        runs.append(1)
        loss, grads = loss_and_grad(model, x, y)
        update(grads)
        return loss

    if compiled:
        step = partial(mx.compile, inputs=state, outputs=state)(step)
    losses = []
    for _ in range(steps):
        loss = step(x, y)
        mx.eval(state)
        losses.append(loss.item())
    return losses, model, runs, step


@needs_grad
@pytest.mark.parametrize("optimiser", ["sgd", "adam"])
def test_training_step_with_captured_state(optimiser):
    eager, m_eager, _, _ = train(False, optimiser)
    comp, m_comp, runs, step = train(True, optimiser)
    assert comp[-1] < comp[0]
    np.testing.assert_allclose(comp, eager, rtol=1e-5, atol=1e-6)
    for k in m_eager:
        close(m_comp[k], m_eager[k], tol=1e-5)
    assert len(runs) == 1 and traces(step) == 1


@needs_grad
def test_compile_grad_and_grad_of_compiled():
    grad_fn = mx.grad(mx.exp)
    compiled_grad_fn = mx.compile(grad_fn)
    close(grad_fn(mx.array(1.0)), math.e)
    close(compiled_grad_fn(mx.array(1.0)), math.e)

    def f(x):
        return mx.sum(mx.exp(x) * x)

    x = mx.array([0.5, 1.0, -2.0])
    close(mx.grad(mx.compile(f))(x), mx.grad(f)(x), tol=1e-5)
    close(mx.compile(mx.grad(f))(x), (np.exp(np.array(x)) *
                                      (np.array(x) + 1)), tol=1e-5)


@needs_random
def test_random_state_capture():
    state = [mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def noisy(x):
        return x + mx.random.uniform(shape=(3,))

    mx.random.seed(7)
    a = np.array(noisy(mx.zeros((3,))))
    b = np.array(noisy(mx.zeros((3,))))
    assert not np.array_equal(a, b)  # the key advanced between calls
    mx.random.seed(7)
    ea = np.array(mx.random.uniform(shape=(3,)))
    eb = np.array(mx.random.uniform(shape=(3,)))
    np.testing.assert_array_equal(a, ea)
    np.testing.assert_array_equal(b, eb)
    assert traces(noisy) == 1
    # the global key is a real array again
    np.array(mx.random.state[0])


@needs_random
def test_random_without_capture_is_frozen():
    @mx.compile
    def noisy(x):
        return x + mx.random.uniform(shape=(3,))

    a = np.array(noisy(mx.zeros((3,))))
    b = np.array(noisy(mx.zeros((3,))))
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ #
# nested compile                                                     #
# ------------------------------------------------------------------ #

def test_nested_compiled_functions():
    runs = []

    @mx.compile
    def inner(x):
        runs.append(1)
        return mx.exp(-mx.abs(x))

    def outer(x):
        return inner(inner(x))

    fun = mx.compile(outer)
    x = mx.array([1.0, -2.0, 0.5])
    expect = np.exp(-np.abs(np.exp(-np.abs(np.array(x)))))
    close(fun(x), expect)
    close(fun(x), expect)
    close(outer(x), expect)
    # inner ran twice inside outer's trace (inlined), then once traced
    s = inner.stats()
    assert s["bypassed"] == 2 and s["traces"] == 1
    assert traces(fun) == 1


def test_compile_of_compiled():
    f = mx.compile(lambda x: x * 3)
    g = mx.compile(f)
    close(g(mx.array(2.0)), 6.0)
    close(g(mx.array(3.0)), 9.0)
    assert traces(g) == 1


# ------------------------------------------------------------------ #
# shapeless                                                          #
# ------------------------------------------------------------------ #

def test_shapeless_example():
    def fun(x, y):
        return mx.abs(x + y)

    compiled_fun = mx.compile(fun, shapeless=True)
    close(compiled_fun(mx.array(1.0), mx.array(-2.0)), 1.0)
    # 0-d to 1-d is an ndim change: one more trace
    close(compiled_fun(mx.array([1.0, -6.0]), mx.array([-2.0, 3.0])),
          [1.0, 3.0])
    n = traces(compiled_fun)
    close(compiled_fun(mx.array([1.0, -6.0, 2.0]),
                       mx.array([-2.0, 3.0, 1.0])), [1.0, 3.0, 3.0])
    close(compiled_fun(mx.array(np.ones(100, np.float32)),
                       mx.array(np.ones(100, np.float32))), np.full(100, 2))
    assert traces(compiled_fun) == n


def test_shapeless_counts_follow_the_shape():
    # mean, var and std divide by the count of the shape being replayed
    fns = [lambda x: x.mean(), lambda x: x.mean(axis=-1),
           lambda x: mx.var(x, axis=-1, keepdims=True),
           lambda x: mx.std(x, ddof=1),
           lambda x: x - x.mean(axis=0, keepdims=True)]
    refs = [lambda a: a.mean(), lambda a: a.mean(axis=-1),
            lambda a: a.var(axis=-1, keepdims=True),
            lambda a: a.std(ddof=1),
            lambda a: a - a.mean(axis=0, keepdims=True)]
    rng = np.random.default_rng(3)
    for fn, ref in zip(fns, refs):
        cf = mx.compile(fn, shapeless=True)
        for shape in [(2, 3), (5, 7), (4, 1)]:
            a = rng.standard_normal(shape).astype(np.float32)
            close(cf(mx.array(a)), ref(a.astype(np.float64)), 1e-5)
        assert traces(cf) == 1
    g = mx.compile(mx.grad(lambda x: x.mean() ** 2), shapeless=True)
    close(g(mx.ones((2,))), [1.0, 1.0])
    close(g(mx.ones((4,))), [0.5] * 4)


def test_shapeless_slices_follow_the_shape():
    # slices as written keep Python's meaning on every replayed length
    fns = [lambda x: x[1:] - x[:-1], lambda x: x[::-1], lambda x: x[-1],
           lambda x: x[-3:], lambda x: x[1:3], lambda x: x[::2],
           lambda x: x[:, -2], lambda x: x[-1, 1:]]
    for fn in fns:
        cf = mx.compile(fn, shapeless=True)
        for n in [5, 8, 3]:
            a = np.arange(3 * n, dtype=np.float32).reshape(3, n)
            got = np.array(cf(mx.array(a)))
            want = fn(a)
            assert got.shape == want.shape
            close(got, want)
        assert traces(cf) == 1
    # the gradient of pad slices the cotangent relative to its ends
    g = mx.compile(mx.grad(lambda x: (mx.pad(x, [(1, 2)]) ** 2).sum()),
                   shapeless=True)
    for n in [3, 6]:
        a = np.arange(n, dtype=np.float32)
        close(g(mx.array(a)), 2 * a)


def test_shapeless_zeros_like_follows_the_shape():
    cf = mx.compile(lambda x: mx.zeros_like(x) + x.shape[0], shapeless=True)
    close(cf(mx.ones((2,))), [2.0, 2.0])
    y = cf(mx.ones((4,)))
    assert y.shape == (4,)  # the value stays the traced 2, as in MLX
    cf = mx.compile(lambda x: mx.ones_like(x * 2), shapeless=True)
    assert cf(mx.ones((2, 3))).shape == (2, 3)
    assert cf(mx.ones((5, 3))).shape == (5, 3)


def test_shapeless_split_into_sections_fails_on_a_new_length():
    cf = mx.compile(lambda x: mx.split(x, 2)[1], shapeless=True)
    close(cf(mx.arange(4.0)), [2.0, 3.0])
    close(cf(mx.array([5.0, 6.0, 7.0, 8.0])), [7.0, 8.0])
    with pytest.raises(ValueError, match="split into sections"):
        cf(mx.arange(6.0))
    # indices are bounds as written: they replay
    cf = mx.compile(lambda x: mx.split(x, [1])[1], shapeless=True)
    close(cf(mx.arange(4.0)), [1.0, 2.0, 3.0])
    close(cf(mx.arange(6.0)), [1.0, 2.0, 3.0, 4.0, 5.0])


def test_shapeless_bounds_from_a_length_fail_clearly():
    # roll, diagonal and median cut at places computed from a length: a
    # replay on another length raises; other axes may change
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.arange(20, dtype=np.float32).reshape(5, 4)
    c = np.arange(15, dtype=np.float32).reshape(3, 5)
    for fn, ref in [(lambda x: mx.roll(x, 1, axis=1),
                     lambda v: np.roll(v, 1, axis=1)),
                    (lambda x: mx.median(x, axis=1),
                     lambda v: np.median(v, axis=1))]:
        cf = mx.compile(fn, shapeless=True)
        close(cf(mx.array(a)), ref(a))
        close(cf(mx.array(b)), ref(b))  # axis 0 changed: fine
        with pytest.raises(ValueError, match="computed"):
            cf(mx.array(c))
    d = mx.compile(lambda x: mx.diagonal(x, axis1=1, axis2=2),
                   shapeless=True)
    for n in [2, 5]:
        v = np.arange(n * 9, dtype=np.float32).reshape(n, 3, 3)
        close(d(mx.array(v)), np.diagonal(v, axis1=1, axis2=2))
    with pytest.raises(ValueError, match="computed"):
        d(mx.zeros((2, 4, 4)))


def test_shapeless_layer_norm_stays_one_kernel():
    # the count a mean divides by reads the input's shape, not the
    # astype's result, so nothing outside the region needs that result
    def ln(x):
        x = x.astype(mx.float32)
        return (x - x.mean(-1, keepdims=True)) * \
            mx.rsqrt(x.var(-1, keepdims=True) + 1e-4)
    cf = mx.compile(ln, shapeless=True)
    a = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float16)
    want = a.astype(np.float32)
    want = (want - want.mean(-1, keepdims=True)) / \
        np.sqrt(want.var(-1, keepdims=True) + 1e-4)
    close(cf(mx.array(a)), want, 1e-4)
    steps = [l for l in cf.dump("fused").splitlines()
             if l.startswith("v")]
    assert sum("fused(" in l for l in steps) == 1
    assert not any("astype(" in l for l in steps)  # not stored apart


def test_shapeless_rms_norm_stays_one_kernel():
    # mean(x * x) and mean(x ** 2 * 0.5) count x's elements: x * x is not
    # stored for the count (its shape is x's on every replay)
    def rms(x, w):
        x = x.astype(mx.float32)
        a = x * mx.rsqrt((x * x).mean(-1, keepdims=True) + 1e-5)
        b = x * mx.rsqrt((x ** 2 * 0.5).mean(-1, keepdims=True) + 1e-5)
        return w * (a + b)
    cf = mx.compile(rms, shapeless=True)
    rng = np.random.default_rng(1)
    for shape in [(4, 8), (3, 5), (1, 8)]:
        a = rng.standard_normal(shape).astype(np.float16)
        w = rng.standard_normal(shape[-1:]).astype(np.float32)
        x = a.astype(np.float32)
        want = w * (x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-5) +
                    x / np.sqrt((x ** 2 * 0.5).mean(-1, keepdims=True) +
                                1e-5))
        close(cf(mx.array(a), mx.array(w)), want, 1e-4)
    steps = [l for l in cf.dump("fused").splitlines()
             if l.startswith("v")]
    assert sum("fused(" in l for l in steps) == 1, steps
    assert not any("multiply(" in l or "power(" in l for l in steps)


def test_float16_rounding_blocks_bounded():
    # float16 values read by other values are rounded in registers where
    # every op of the loop has a vector form (vecf.h); else in 2 KB stack
    # blocks (kiln_f16_round_n), and a loop with more than 16 of them
    # rounds inline. Every way the bits are eager's.
    def horner(x, n, head):
        y = head(x)
        for k in range(n):
            y = y * x + (k % 5 - 2) * 0.25
        return y
    x = mx.array(np.linspace(-1.5, 1.5, 1000).astype(np.float16))
    for n, head, vec, blocks in ((6, mx.erf, False, True),
                                 (30, mx.erf, False, False),
                                 (6, mx.abs, True, False),
                                 (30, mx.abs, True, False)):
        cf = mx.compile(lambda x: horner(x, n, head))
        assert mx.array_equal(cf(x), horner(x, n, head)).item()
        src = cf.dump("source")
        assert ("kiln_vround_f16(" in src) == vec
        assert ("kiln_f16_round_n(h" in src) == blocks
        assert len(re.findall(r"float h\d+\[", src)) <= 16


def test_three_chained_reductions_stay_one_region():
    # log-softmax with its NLL sum and the softmax entropy each fold three
    # times in a chain (max, sum of exp, sum): one region reads x once
    def nll(x, oh):
        return -(oh * (x - mx.logsumexp(x, -1, keepdims=True))).sum(-1)

    def ent(x):
        p = mx.softmax(x, -1)
        return -(p * mx.log(p)).sum(-1)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 16)).astype(np.float32)
    oh = np.eye(16, dtype=np.float32)[rng.integers(0, 16, 8)]
    m = x.max(-1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(-1, keepdims=True))
    p = np.exp(x - lse)
    for f, args, want in ((nll, (x, oh), -(oh * (x - lse)).sum(-1)),
                          (ent, (x,), -(p * np.log(p)).sum(-1))):
        cf = mx.compile(f)
        close(cf(*[mx.array(a) for a in args]), want, 1e-5)
        steps = [l for l in cf.dump("fused").splitlines()
                 if l.startswith("v")]
        assert sum("fused(" in l for l in steps) == 1, steps
        assert not any(" max(" in l for l in steps), steps


def test_shapeless_edge_pad_and_topk_gradient():
    cf = mx.compile(lambda x: mx.pad(x, [(1, 1)], mode="edge"),
                    shapeless=True)
    g = mx.compile(mx.grad(lambda x: mx.topk(x, 2).sum()), shapeless=True)
    for n in [3, 5, 7]:
        a = np.random.default_rng(n).permutation(n).astype(np.float32)
        close(cf(mx.array(a)), np.pad(a, (1, 1), mode="edge"))
        close(g(mx.array(a)), (a >= np.sort(a)[-2]).astype(np.float32))
    # a wider edge broadcasts the row to a baked width: refused clearly
    wide = mx.compile(lambda x: mx.pad(x, [(1, 2)], mode="edge"),
                      shapeless=True)
    with pytest.raises(ValueError, match="broadcast_to"):
        wide(mx.arange(3.0))


def test_shapeless_item_assignment():
    def f(x):
        y = x * 1
        y[1:] = 0
        y[0] += 5
        y[-1, ..., None] = 7
        return y
    cf = mx.compile(f, shapeless=True)
    for n in [3, 5, 8]:
        a = np.arange(2 * n, dtype=np.float32).reshape(n, 2)
        want = a.copy()
        want[1:] = 0
        want[0] += 5
        want[-1] = 7
        close(cf(mx.array(a)), want)
    assert traces(cf) == 1


def test_shapeless_reshape_fails_and_flatten_works():
    def fun(x):
        return x.reshape(x.shape[0] * x.shape[1], -1)

    compiled_fun = mx.compile(fun, shapeless=True)
    x = mx.random.uniform(shape=(2, 3, 4)) if hasattr(mx, "random") else \
        mx.array(np.ones((2, 3, 4), np.float32))
    assert compiled_fun(x).shape == (6, 4)
    x = mx.array(np.ones((5, 5, 3), np.float32))
    with pytest.raises(ValueError, match="reshape"):
        mx.eval(compiled_fun(x))

    def fun2(x):
        return x.flatten(0, 1)

    compiled_fun = mx.compile(fun2, shapeless=True)
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    close(compiled_fun(mx.array(a)), a.reshape(6, 4))
    b = np.arange(75, dtype=np.float32).reshape(5, 5, 3)
    close(compiled_fun(mx.array(b)), b.reshape(25, 3))
    assert traces(compiled_fun) == 1


# ------------------------------------------------------------------ #
# trees                                                              #
# ------------------------------------------------------------------ #

Pair = collections.namedtuple("Pair", ["a", "b"])


def test_tree_arguments_and_results():
    runs = []

    def fun(d, t, *, scale=1.0, tag=None):
        runs.append(1)
        return {"sum": (d["x"] + t[0]) * scale,
                "pair": Pair(t[1] * 2, tag),
                "list": [d["y"], None, "s"]}

    f = mx.compile(fun)
    d = {"x": mx.array([1.0, 2.0]), "y": mx.array(3)}
    t = (mx.array([10.0, 20.0]), mx.array(1.5))
    for _ in range(2):
        out = f(d, t, scale=2.0, tag="k")
        expect = fun(d, t, scale=2.0, tag="k")
        assert set(out) == {"sum", "pair", "list"}
        close(out["sum"], expect["sum"])
        assert type(out["pair"]) is Pair and out["pair"].b == "k"
        close(out["pair"].a, 3.0)
        assert out["list"][1] is None and out["list"][2] == "s"
        assert out["list"][0].dtype == mx.int32
    assert traces(f) == 1
    # another structure or constant retraces
    f(d, list(t), scale=2.0, tag="k")
    f(d, t, scale=2.0, tag="j")
    f({"y": d["y"], "x": d["x"]}, t, scale=2.0, tag="k")
    assert traces(f) == 4


def test_namedtuple_argument_keeps_type():
    seen = []

    def fun(p):
        seen.append(type(p))
        return p.a + p.b

    f = mx.compile(fun)
    close(f(Pair(mx.array(1.0), mx.array(2.0))), 3.0)
    assert seen == [Pair]


def test_returning_no_arrays_and_scalars():
    st = [mx.array(1.0)]

    @partial(mx.compile, inputs=st, outputs=st)
    def step():
        st[0] = st[0] * 2

    assert step() is None
    assert step() is None
    assert st[0].item() == 4.0

    f = mx.compile(lambda x: (x, 3, None))
    out = f(mx.array(1.0))
    assert out[1:] == (3, None)


def test_returning_an_input_unchanged():
    f = mx.compile(lambda x, y: (x, y + 1))
    x = mx.array([1.0, 2.0])
    a, b = f(x, x)
    close(a, [1.0, 2.0])
    close(b, [2.0, 3.0])


@pytest.mark.parametrize("bad", [np.ones(2), object(), {1, 2}, b"x",
                                 1 + 2j, [mx.array(1.0), object()]])
def test_bad_argument_types(bad):
    f = mx.compile(lambda x, y=None: x)
    with pytest.raises(ValueError, match="trees of arrays or constants"):
        f(mx.array(1.0), bad)
    with pytest.raises(ValueError, match="received type"):
        f(mx.array(1.0), y=bad)


def test_exceptions_from_fun_propagate():
    class Boom(Exception):
        pass

    runs = []

    @mx.compile
    def fun(x):
        runs.append(1)
        if len(runs) < 3:
            raise Boom("no")
        return x + 1

    for _ in range(2):
        with pytest.raises(Boom, match="no"):
            fun(mx.array(1.0))
    # a failed trace is not cached
    close(fun(mx.array(1.0)), 2.0)
    close(fun(mx.array(2.0)), 3.0)
    assert len(runs) == 3

    @mx.compile
    def shape_error(x):
        return x + mx.array(np.ones(3, np.float32))

    with pytest.raises(ValueError):
        shape_error(mx.array(np.ones(4, np.float32)))

    @mx.compile
    def bad_return(x):
        return object()

    r = bad_return(mx.array(1.0))
    assert r is not None  # non-array leaves come back as they were

    @mx.compile
    def captures_input(x):
        return x + 1

    # an argument reached through a closure instead of the call
    y = mx.array(5.0)
    g = mx.compile(lambda x: x + y)
    with pytest.raises(ValueError, match="context"):
        mx.eval(g(y))


# ------------------------------------------------------------------ #
# the compiled object                                                #
# ------------------------------------------------------------------ #

def test_wrapper_attributes():
    def fun(x):
        """Doubles."""
        return 2 * x

    fun.custom = 5
    f = mx.compile(fun)
    assert f.__name__ == "fun"
    assert f.__qualname__ == fun.__qualname__
    assert f.__doc__ == "Doubles."
    assert f.__module__ == fun.__module__
    assert f.__wrapped__ is fun
    assert f.custom == 5
    assert "fun" in repr(f)
    assert isinstance(f, mx.CompiledFunction)


def test_decorator_forms():
    state = [mx.array(2.0)]

    @mx.compile
    def a(x):
        return x + 1

    @partial(mx.compile, shapeless=True)
    def b(x):
        return x + 1

    @partial(mx.compile, inputs=state, outputs=state)
    def c(x):
        state[0] = state[0] * x
        return state[0]

    close(a(mx.array(1.0)), 2.0)
    close(b(mx.array([1.0, 2.0])), [2.0, 3.0])
    close(c(mx.array(3.0)), 6.0)
    close(c(mx.array(3.0)), 18.0)
    close(state[0], 18.0)


def test_compiled_method_binds():
    class Scaler:
        def __init__(self, s):
            self.s = mx.array(s)
            self.runs = 0

        @mx.compile
        def apply(self, x):
            self.runs += 1
            return x * self.s

    one, two = Scaler(2.0), Scaler(3.0)
    close(one.apply(mx.array(1.0)), 2.0)
    close(two.apply(mx.array(1.0)), 3.0)
    close(one.apply(mx.array(5.0)), 10.0)
    close(two.apply(mx.array(5.0)), 15.0)
    assert one.runs == 1 and two.runs == 1
    assert Scaler.apply.__name__ == "apply"
    r = weakref.ref(one)
    del one
    gc.collect()
    assert r() is None


def test_stats_dump_and_clear():
    f = mx.compile(lambda x, y: mx.exp(x) * y + 1)
    assert f.dump() is None
    x = mx.array(np.ones((4, 4), np.float32))
    f(x, x)
    s = mx.compile_stats(f)
    for k in ("calls", "traces", "cache_hits", "bypassed", "kernels_built",
              "kernels_loaded", "interpreted", "entries", "compile_ms"):
        assert k in s
    assert s["entries"] == 1 and s["traces"] == 1
    for kind in ("traced", "fused", "dot", "source"):
        d = f.dump(kind=kind)
        assert isinstance(d, str) and d
    assert "exp" in f.dump("traced")
    assert "digraph" in f.dump("dot")
    with pytest.raises(ValueError):
        f.dump("nope")
    f.clear_cache()
    assert f.stats()["entries"] == 0
    f(x, x)
    assert traces(f) == 2
    mx.clear_compile_cache()
    assert f.stats()["entries"] == 0
    with pytest.raises(TypeError):
        mx.compile_stats(lambda x: x)


# ------------------------------------------------------------------ #
# garbage collection                                                 #
# ------------------------------------------------------------------ #

def test_compiled_function_is_collected():
    def make():
        f = mx.compile(lambda x: x + 1)
        f(mx.array(1.0))
        return weakref.ref(f)

    r = make()
    gc.collect()
    assert r() is None


def test_cycles_through_captured_state_are_collected():
    def make():
        state = [mx.array(1.0)]

        def fun(x):
            return x + state[0]

        f = mx.compile(fun, inputs=state, outputs=state)
        state.append(f)       # the state refers to the compiled function
        fun.me = f            # and so does the function
        f.self_ref = f        # and the wrapper's own dict
        f(mx.array(1.0))
        return weakref.ref(f), weakref.ref(fun)

    r, rf = make()
    gc.collect()
    assert r() is None and rf() is None


def test_cache_entries_released_with_the_function():
    def fun(x):
        return x * 2

    f = mx.compile(fun)
    f(mx.array(1.0))
    f(mx.array([1.0]))
    assert f.stats()["entries"] == 2
    g = mx.compile(fun)  # shares fun's cache
    assert g.stats()["entries"] == 2
    del f, g
    gc.collect()
    h = mx.compile(fun)  # a new cache: the old one was dropped
    assert h.stats()["entries"] == 0 and h.stats()["calls"] == 0


# ------------------------------------------------------------------ #
# threads                                                            #
# ------------------------------------------------------------------ #

def test_threads_call_compiled_functions():
    f = mx.compile(lambda x, y: x * y + 1)
    g = mx.compile(lambda x: mx.sum(mx.exp(x)))
    errors = []

    def work(i):
        try:
            for j in range(30):
                a = mx.array(np.full((3 + j % 3,), float(i), np.float32))
                np.testing.assert_allclose(np.array(f(a, a)), i * i + 1)
                np.testing.assert_allclose(
                    g(a).item(), (3 + j % 3) * math.exp(i), rtol=1e-5)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    assert traces(f) <= 3 * 4 and f.stats()["calls"] == 120


def test_threads_share_captured_state():
    st = [mx.array(0.0)]

    @partial(mx.compile, inputs=st, outputs=st)
    def inc(x):
        st[0] = st[0] + x
        return st[0]

    errors = []

    def work():
        try:
            for _ in range(25):
                inc(mx.array(1.0))
                mx.eval(st)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    assert st[0].item() == 100.0


def test_broadcast_of_a_scalar_keeps_its_shape():
    # a region whose inputs do not span its domain (broadcast_to of a
    # value computed from 0-d inputs) keeps its traced shape; it used to
    # come out (1, 1)
    x = mx.array(np.random.rand(7, 1000).astype(np.float16))
    s = mx.array(np.float32(0.3))

    def f(x, s):
        b = mx.broadcast_to((s + s).astype(mx.float16), x.shape)
        return mx.maximum(x * x, b), b, mx.broadcast_to(s * 2, (3, 4)) + 1
    got, want = mx.compile(f)(x, s), f(x, s)
    for a, b in zip(got, want):
        assert a.shape == b.shape
        assert mx.array_equal(a, b).item()


def test_streamed_rows_of_a_big_row_region():
    # outputs past 32 MB make row kernels stream their rows from a stack
    # row (codegen.c nt_row_bytes): two inner outputs and a per-row one
    x = mx.array(np.random.rand(4096, 2048).astype(np.float32))

    def f(x):
        m = mx.mean(x, axis=-1, keepdims=True)
        return mx.softmax(x, axis=-1), x - m, mx.max(x, axis=-1)
    got, want = mx.compile(f)(x), f(x)
    for a, b in zip(got, want):
        assert a.shape == b.shape
        # (the interpreter, KILN_JIT=0, folds sums in an order of its own)
        assert np.allclose(np.array(a), np.array(b), rtol=1e-6, atol=0)


@pytest.mark.parametrize("dt", [mx.float32, mx.float16])
def test_broadcast_of_a_row_value_keeps_its_shape(dt):
    # a broadcast_to of a reduction's keepdims result spans the reduced
    # axis: it is an inner value of the fused row region; it used to be
    # taken for a per-row value and come out (rows, 1)
    x = mx.array(np.random.rand(6, 37).astype(np.float32)).astype(dt)

    def f(x):
        s = mx.sum(x, axis=-1, keepdims=True)
        b = mx.broadcast_to(s, x.shape)
        return b, b + 1, mx.maximum(b, x) * x, mx.max(x, axis=-1)
    # (the interpreter, KILN_JIT=0, folds float sums in an order of its
    # own: values within an ulp or two)
    tol = 2e-3 if dt == mx.float16 else 1e-6
    for compiled in (mx.compile(f), mx.compile(lambda x: f(x))):
        got, want = compiled(x), f(x)
        for a, b in zip(got, want):
            assert a.shape == b.shape
            assert np.allclose(np.array(a.astype(mx.float32)),
                               np.array(b.astype(mx.float32)), rtol=tol)
