"""kiln.grad, value_and_grad, vjp, jvp and vmap against numpy: analytic
derivatives and central finite differences in float64, vmap against a
Python loop, composition with kiln.compile, and the error paths."""
import gc
import threading
import weakref
from collections import namedtuple

import numpy as np
import pytest

import kiln as mx

RNG = np.random.default_rng(0)


def f64(v):
    return mx.array(np.asarray(v, dtype=np.float64), dtype=mx.float64)


def rand(*shape):
    return RNG.standard_normal(shape)


def npy(x):
    return np.array(x)


def close(a, b, rtol=1e-6, atol=1e-8):
    np.testing.assert_allclose(npy(a), np.asarray(b), rtol=rtol, atol=atol)


def num_grad(f, args, i, h=1e-6):
    """Central differences of the scalar f(*kiln args) w.r.t. numpy
    argument i (float64)."""
    base = [np.array(a, dtype=np.float64) for a in args]
    g = np.zeros_like(base[i])
    for idx in np.ndindex(*base[i].shape):
        hi = [b.copy() for b in base]
        lo = [b.copy() for b in base]
        hi[i][idx] += h
        lo[i][idx] -= h
        fp = npy(f(*[f64(a) for a in hi])).item()
        fm = npy(f(*[f64(a) for a in lo])).item()
        g[idx] = (fp - fm) / (2 * h)
    return g


needs_compile = pytest.mark.skipif(not hasattr(mx, "compile"),
                                   reason="kiln.compile not there yet")


# ---------------------------------------------------------------- grad


def test_grad_polynomial_matches_analytic():
    x = rand(7)
    g = mx.grad(lambda x: (x ** 3 - 2 * x ** 2 + x).sum())(f64(x))
    assert g.dtype == mx.float64 and g.shape == (7,)
    close(g, 3 * x ** 2 - 4 * x + 1)


@pytest.mark.parametrize("fn", [
    lambda x: mx.exp(x).sum(),
    lambda x: mx.log(x * x + 1.0).sum(),
    lambda x: (mx.sin(x) * mx.cos(2 * x)).sum(),
    lambda x: (mx.tanh(x) / (1.0 + mx.exp(-x))).mean(),
    lambda x: mx.sqrt(x * x + 2.0).max(),
])
def test_grad_elementwise_matches_finite_differences(fn):
    x = rand(3, 4)
    close(mx.grad(fn)(f64(x)), num_grad(fn, [x], 0), rtol=1e-5, atol=1e-7)


def test_grad_scalar_argument_and_float32():
    g = mx.grad(lambda x: x * x * x)(mx.array(2.0))
    assert g.dtype == mx.float32 and g.shape == ()
    assert g.item() == pytest.approx(12.0)


def test_grad_of_matmul_least_squares():
    X, w, y = rand(10, 3), rand(3), rand(10)

    def loss(w, X, y):
        r = X @ w - y
        return (r * r).mean()

    g = mx.grad(loss)(f64(w), f64(X), f64(y))
    close(g, 2 * X.T @ (X @ w - y) / 10)
    gX = mx.grad(loss, argnums=1)(f64(w), f64(X), f64(y))
    close(gX, np.outer(2 * (X @ w - y) / 10, w))


def test_grad_of_softmax_cross_entropy():
    z = rand(4, 5)
    labels = np.array([0, 3, 1, 4])
    onehot = np.eye(5)[labels]

    def ce(z, t):
        return (mx.logsumexp(z, axis=1) - (z * t).sum(axis=1)).mean()

    g = mx.grad(ce)(f64(z), f64(onehot))
    sm = np.exp(z - z.max(1, keepdims=True))
    sm /= sm.sum(1, keepdims=True)
    close(g, (sm - onehot) / 4)
    close(g, num_grad(ce, [z, onehot], 0), rtol=1e-5, atol=1e-8)


def test_argnums_variants():
    a, b, c = rand(3), rand(3), rand(3)

    def f(a, b, c):
        return (a * b * b + c).sum()

    A, B, C = f64(a), f64(b), f64(c)
    close(mx.grad(f)(A, B, C), b * b)
    close(mx.grad(f, argnums=1)(A, B, C), 2 * a * b)
    g = mx.grad(f, argnums=[1])(A, B, C)  # one argnum: no tuple, as MLX
    assert not isinstance(g, tuple)
    close(g, 2 * a * b)
    ga, gc_ = mx.grad(f, argnums=(0, 2))(A, B, C)
    close(ga, b * b)
    close(gc_, np.ones(3))
    # MLX sorts argnums: the gradients come in argument order.
    g2, g0 = mx.grad(f, argnums=[2, 0])(A, B, C)
    close(g2, b * b)
    close(g0, np.ones(3))


def test_argnames_keyword_gradients():
    def f(x, y=None, scale=1.0):
        return (x * y).sum() * scale

    x, y = f64([1.0, 2.0]), f64([3.0, 5.0])
    pos, kw = mx.grad(f, argnames="y")(x, y=y, scale=2.0)
    assert pos is None and set(kw) == {"y"}
    close(kw["y"], [2.0, 4.0])
    gx, kw = mx.grad(f, argnums=0, argnames=["y"])(x, y=y)
    close(gx, [3.0, 5.0])
    close(kw["y"], [1.0, 2.0])


def test_tree_arguments_give_tree_gradients():
    Pair = namedtuple("Pair", "u v")
    params = {"w": f64(rand(3, 2)), "b": [f64(rand(2)), (f64(rand(2)),)],
              "p": Pair(f64(rand(2)), f64(rand(2)))}
    x = f64(rand(4, 3))

    def loss(p, x):
        h = x @ p["w"] + p["b"][0] * p["b"][1][0]
        return (h * h).sum() + (p["p"].u * p["p"].v).sum()

    g = mx.grad(loss)(params, x)
    assert set(g) == {"w", "b", "p"}
    assert isinstance(g["b"], list) and isinstance(g["b"][1], tuple)
    assert isinstance(g["p"], Pair)
    n = params
    w, b0, b1 = npy(n["w"]), npy(n["b"][0]), npy(n["b"][1][0])
    X = npy(x)
    h = X @ w + b0 * b1
    close(g["w"], X.T @ (2 * h))
    close(g["b"][0], (2 * h).sum(0) * b1)
    close(g["b"][1][0], (2 * h).sum(0) * b0)
    close(g["p"].u, npy(n["p"].v))
    close(g["p"].v, npy(n["p"].u))


def test_non_array_leaves_in_other_arguments_are_constants():
    def f(x, cfg):
        return (x * cfg["scale"]).sum() if cfg["on"] else x.sum()

    g = mx.grad(f)(f64([1.0, 2.0]), {"scale": 3.0, "on": True,
                                     "name": "run", "fn": len})
    close(g, [3.0, 3.0])


def test_value_and_grad_plain_and_with_aux():
    x = rand(5)
    v, g = mx.value_and_grad(lambda x: (x * x).sum())(f64(x))
    assert v.shape == ()
    close(v, (x * x).sum())
    close(g, 2 * x)

    def lasso(x, t):
        r = x - t
        mse = (r * r).mean()
        l1 = mx.abs(r).mean()
        return mse + l1, {"mse": mse, "l1": l1, "step": 7}, [r, None]

    t = rand(5)
    (loss, aux, extra), g = mx.value_and_grad(lasso)(f64(x), f64(t))
    r = x - t
    close(loss, (r * r).mean() + np.abs(r).mean())
    close(aux["mse"], (r * r).mean())
    close(aux["l1"], np.abs(r).mean())
    assert aux["step"] == 7 and extra[1] is None
    close(extra[0], r)
    close(g, 2 * r / 5 + np.sign(r) / 5)


def test_gradient_of_unused_argument_is_zeros():
    gx, gy = mx.grad(lambda x, y: (x * 2.0).sum(),
                     argnums=(0, 1))(f64(rand(3)), f64(rand(2, 4)))
    close(gx, 2 * np.ones(3))
    assert gy.shape == (2, 4)
    close(gy, np.zeros((2, 4)))


def test_integer_inputs():
    # An integer argument used by the function: the float gradient flows.
    x, k = f64([1.5, 2.0, -3.7]), mx.array([1, 2, 3])
    close(mx.grad(lambda x, k: (x * k).sum())(x, k), [1.0, 2.0, 3.0])
    # The integer argument's gradient, as in MLX: computed by the same
    # rules and cast to its dtype (x truncated).
    gk = mx.grad(lambda x, k: (x * k).sum(), argnums=1)(x, k)
    assert gk.shape == (3,) and gk.dtype == mx.int32
    np.testing.assert_array_equal(npy(gk), [1, 2, -3])


# Gradients through integer and bool values, with MLX 0.32's answers:
# integers carry gradients like floats (each cotangent cast to its value's
# dtype, so fractions truncate), casts pass them straight through, and
# piecewise-constant ops (comparisons, floor, bitwise, argmax) give zeros.
INT_GRADS = [
    (lambda x: (2 * x).sum(), [2, 2, 2]),
    (lambda x: (x * 1.5).sum(), [1, 1, 1]),
    (lambda x: (x * x).sum(), [2, 4, 6]),
    (lambda x: (x.astype(mx.float32) * -2.7).sum(), [-2, -2, -2]),
    (lambda x: mx.exp(x).sum(), [2, 7, 20]),
    (lambda x: mx.maximum(x, 2).sum(), [0, 0, 1]),
    (lambda x: mx.take(x, mx.array([0, 0, 2])).sum(), [2, 0, 1]),
    (lambda x: mx.cumsum(x).sum(), [3, 2, 1]),
    (lambda x: (x // 2).astype(mx.float32).sum(), [0, 0, 0]),
    (lambda x: (x > 1).astype(mx.float32).sum(), [0, 0, 0]),
    (lambda x: (x & 3).astype(mx.float32).sum(), [0, 0, 0]),
    (lambda x: (x / 2).sum(), [0, 0, 0]),
]


# Integer gradients through movement, copies, scatters, products, scans
# and reductions (MLX 0.32's answers; MLX rejects the integer matmul, whose
# gradient here is the row sums of the other operand), under grad,
# compile(grad) and shapeless compile(grad) (but broadcast_to, which a
# shapeless replay cannot resize).
INT_GRADS_MORE = [
    (lambda x: (x.reshape(3, 1) @ mx.array([[1, 2, 3]])).sum(), [6, 6, 6]),
    (lambda x: (x.reshape(1, 3).T * mx.array([[1], [2], [3]])).sum(),
     [1, 2, 3]),
    (lambda x: (x[::2] * 3).sum(), [3, 0, 3]),
    (lambda x: (mx.broadcast_to(x, (2, 3)) * 2).sum(), [4, 4, 4]),
    (lambda x: (mx.concatenate([x, 2 * x]) *
                mx.array([1, 1, 1, 2, 2, 2])).sum(), [5, 5, 5]),
    (lambda x: (mx.pad(x, 1) * 3).sum(), [3, 3, 3]),
    (lambda x: (x.at[1].add(5) * x).sum(), [2, 9, 6]),
    # the max/min of x.at: the old value takes part once (it used to tie
    # with itself once per update and have its gradient split, then
    # truncated to 0)
    (lambda x: x.at[mx.array([0, 1])].maximum(mx.array([5, 5])).sum(),
     [0, 0, 1]),
    (lambda x: x.at[mx.array([0, 1, 1])].minimum(mx.array([5, 0, 1])).sum(),
     [1, 0, 1]),
    (lambda x: mx.prod(x), [6, 3, 2]),
    (lambda x: mx.cumprod(x).sum(), [9, 4, 2]),
    (lambda x: mx.cummax(x).sum(), [1, 1, 1]),
    (lambda x: mx.var(x) * 3, [-2, 0, 2]),
    (lambda x: (x.astype(mx.float16) * 2.5).astype(mx.float32).sum(),
     [2, 2, 2]),
    (lambda x: mx.take_along_axis(x, mx.array([2, 2, 0]), axis=0).sum(),
     [1, 0, 2]),
]


@pytest.mark.parametrize("case", range(len(INT_GRADS_MORE)))
def test_grad_of_integer_input_more(case):
    fn, want = INT_GRADS_MORE[case]
    wraps = [mx.grad(fn), mx.compile(mx.grad(fn))]
    if case != 3:
        wraps.append(mx.compile(mx.grad(fn), shapeless=True))
    for g in wraps:
        r = g(mx.array([1, 2, 3]))
        assert r.dtype == mx.int32
        np.testing.assert_array_equal(npy(r), want)


def test_float_program_with_integer_and_bool_branches():
    # Values past a comparison, floor or argmax carry no gradient, so rules
    # written for numbers never run on their bool or index outputs: abs of
    # a comparison raised TypeError in sign's rule when they did.
    x = f64([1.5, -2.0, 3.0])
    for g in (mx.grad, lambda f: mx.compile(mx.grad(f))):
        close(g(lambda x: (mx.abs(x > 0) * x).sum())(x), [1, 0, 1])
        close(g(lambda x: (x * (x > 0)).sum())(x), [1, 0, 1])
        close(g(lambda x: (mx.floor(x).astype(mx.int32) * x).sum())(x),
              [1, -2, 3])
    close(mx.vmap(mx.grad(lambda x: (mx.abs(x > 0) * x).sum()))(x[None]),
          [[1, 0, 1]])
    # float16 through an integer cast: straight through
    g = mx.grad(lambda x: x.astype(mx.int32).astype(mx.float16).sum())(
        x.astype(mx.float16))
    assert g.dtype == mx.float16
    close(g, [1, 1, 1])


@pytest.mark.parametrize("case", range(len(INT_GRADS)))
def test_grad_of_integer_input_as_mlx(case):
    fn, want = INT_GRADS[case]
    for wrap in (lambda f: f, mx.compile):
        g = mx.grad(wrap(fn))(mx.array([1, 2, 3]))
        assert g.dtype == mx.int32
        np.testing.assert_array_equal(npy(g), want)


FLOAT_THROUGH_INT = [
    (lambda x: x.astype(mx.int32).astype(mx.float32).sum(), [1, 1, 1]),
    (lambda x: (x.astype(mx.int32) * x).sum(), [2, 4, 0]),
    (lambda x: x.astype(mx.bool_).astype(mx.float32).sum(), [1, 1, 1]),
    (lambda x: x.astype(mx.int32).sum().astype(mx.float32), [1, 1, 1]),
    (lambda x: mx.maximum(x.astype(mx.int32), 1).astype(mx.float32).sum(),
     [0, 1, 0]),
    (lambda x: (x.astype(mx.int32) ** 2).astype(mx.float32).sum(),
     [2, 4, 0]),
    (lambda x: mx.argmax(x).astype(mx.float32), [0, 0, 0]),
    (lambda x: (x.astype(mx.int32) << 1).astype(mx.float32).sum(),
     [0, 0, 0]),
]


@pytest.mark.parametrize("case", range(len(FLOAT_THROUGH_INT)))
def test_grad_through_integer_values_as_mlx(case):
    fn, want = FLOAT_THROUGH_INT[case]
    g = mx.grad(fn)(mx.array([1.5, 2.5, -0.7]))
    assert g.dtype == mx.float32
    close(g, want)


def test_integer_tangents_and_cotangents():
    # jvp: an integer tangent through a float op gives the float tangent
    _, t = mx.jvp(lambda x: x * 1.5, [mx.array([1, 2])], [mx.array([1, 1])])
    close(t[0], [1.5, 1.5])
    _, t = mx.jvp(lambda x: 2 * x, [mx.array([1, 2])], [mx.array([1, 1])])
    assert t[0].dtype == mx.int32
    np.testing.assert_array_equal(npy(t[0]), [2, 2])
    # vjp: the float cotangent comes back to the integer primal truncated
    _, c = mx.vjp(lambda x: x * 1.5, [mx.array([1, 2])], [f64([1.0, 1.0])])
    np.testing.assert_array_equal(npy(c[0]), [1, 1])
    # composed with vmap and value_and_grad
    g = mx.vmap(mx.grad(lambda x: (x * x).sum()))(mx.array([[1, 2], [3, 4]]))
    np.testing.assert_array_equal(npy(g), [[2, 4], [6, 8]])
    v, g = mx.value_and_grad(lambda x: (x * x).sum())(mx.array([1, 2]))
    assert v.item() == 5
    np.testing.assert_array_equal(npy(g), [2, 4])
    # other integer dtypes keep theirs
    for dt in (mx.uint8, mx.int16, mx.int64):
        g = mx.grad(lambda x: (x * 3).sum())(mx.array([1, 2], dtype=dt))
        assert g.dtype == dt
        np.testing.assert_array_equal(npy(g), [3, 3])


def test_grad_of_grad():
    d2 = mx.grad(mx.grad(lambda x: x * x * x + mx.sin(x)))
    for v in [0.5, -1.5, 2.0]:
        close(d2(f64(v)), 6 * v - np.sin(v))
    d3 = mx.grad(mx.grad(mx.grad(lambda x: x ** 4)))
    close(d3(f64(1.5)), 24 * 1.5)


# ---------------------------------------------------------------- vjp, jvp


def test_vjp_and_jvp_values():
    x = rand(4)
    outs, vjps = mx.vjp(lambda x: mx.sin(x) * 2.0, [f64(x)],
                        [f64(np.ones(4))])
    assert isinstance(outs, list) and isinstance(vjps, list)
    close(outs[0], 2 * np.sin(x))
    close(vjps[0], 2 * np.cos(x))
    t = rand(4)
    outs, jvps = mx.jvp(lambda x: [mx.exp(x), x * x], [f64(x)], [f64(t)])
    assert len(outs) == 2 and len(jvps) == 2
    close(jvps[0], np.exp(x) * t)
    close(jvps[1], 2 * x * t)


def test_vjp_jvp_consistency():
    A = rand(3, 4)

    def f(x, y):
        return [mx.sin(x) * y, mx.tanh(x @ f64(A)).sum(axis=0, keepdims=True)]

    x, y = rand(2, 3), rand(2, 3)
    tx, ty = rand(2, 3), rand(2, 3)
    outs, jvps = mx.jvp(f, [f64(x), f64(y)], [f64(tx), f64(ty)])
    gs = [rand(*o.shape) for o in outs]
    outs2, vjps = mx.vjp(f, [f64(x), f64(y)], [f64(g) for g in gs])
    for o, o2 in zip(outs, outs2):
        close(o, npy(o2))
    lhs = sum((npy(v) * t).sum() for v, t in zip(vjps, [tx, ty]))
    rhs = sum((g * npy(j)).sum() for g, j in zip(gs, jvps))
    assert lhs == pytest.approx(rhs, rel=1e-10)


def test_vjp_of_integer_primal():
    _, vjps = mx.vjp(lambda x, k: x * k, [f64([1.5, 2.0]), mx.array([3, 4])],
                     [f64([1.0, 1.0])])
    close(vjps[0], [3.0, 4.0])
    assert vjps[1].dtype == mx.int32
    np.testing.assert_array_equal(npy(vjps[1]), [1, 2])


# ---------------------------------------------------------------- vmap


def loop(fn, xs, axis=0):
    return np.stack([npy(fn(mx.array(np.take(xs, i, axis=axis))))
                     for i in range(xs.shape[axis])])


def test_vmap_elementwise_equals_loop():
    xs = rand(5, 3).astype(np.float32)
    fn = lambda x: mx.sin(x) * 2.0 + x * x  # noqa: E731
    close(mx.vmap(fn)(mx.array(xs)), loop(fn, xs), rtol=1e-6)


def test_vmap_reductions_and_in_axes():
    xs = rand(4, 6, 3).astype(np.float32)
    X = mx.array(xs)
    fn = lambda x: x.sum(axis=0)  # noqa: E731
    close(mx.vmap(fn)(X), xs.sum(axis=1), rtol=1e-5)
    close(mx.vmap(fn, in_axes=1)(X), xs.sum(axis=0), rtol=1e-5)
    close(mx.vmap(fn, in_axes=-1)(X), xs.sum(axis=0).T, rtol=1e-5)
    close(mx.vmap(fn, in_axes=-2)(X), loop(fn, xs, axis=1), rtol=1e-5)
    close(mx.vmap(lambda x: x.max())(X), xs.max(axis=(1, 2)))


def test_vmap_matmul_with_none_axis():
    a, b = rand(7, 2, 3), rand(3, 4)
    out = mx.vmap(lambda a, b: a @ b, in_axes=(0, None))(f64(a), f64(b))
    close(out, a @ b)
    c, m = rand(3, 7, 4), rand(2, 3)
    out = mx.vmap(lambda m, c: m @ c, in_axes=[None, 1])(f64(m), f64(c))
    close(out, np.stack([m @ c[:, i] for i in range(7)]))


def test_vmap_out_axes():
    xs = rand(3, 4, 5)
    X = f64(xs)
    ident = lambda x: x  # noqa: E731
    assert mx.vmap(ident, in_axes=0, out_axes=1)(X).shape == (4, 3, 5)
    close(mx.vmap(ident, in_axes=0, out_axes=1)(X), xs.transpose(1, 0, 2))
    close(mx.vmap(ident, in_axes=0, out_axes=-1)(X), xs.transpose(1, 2, 0))
    close(mx.vmap(ident, in_axes=2, out_axes=0)(X), xs.transpose(2, 0, 1))
    two = mx.vmap(lambda x: (x.sum(axis=0), x * 2.0), out_axes=(0, 2))(X)
    close(two[0], xs.sum(axis=1))
    close(two[1], 2 * xs.transpose(1, 2, 0))


def test_vmap_out_axes_none_for_unbatched_output():
    xs, c = rand(3, 2), rand(2)
    y, k = mx.vmap(lambda x, c: (x + c, c * 2.0), in_axes=(0, None),
                   out_axes=(0, None))(f64(xs), f64(c))
    close(y, xs + c)
    assert k.shape == (2,)
    close(k, 2 * c)
    with pytest.raises(ValueError):
        mx.vmap(lambda x: x * 2.0, out_axes=None)(f64(xs))


def test_vmap_trees_in_and_out():
    xs, ys = rand(4, 3), rand(3, 4)
    params = {"a": f64(xs), "b": [f64(ys)]}

    def fn(p):
        return {"s": p["a"] + p["b"][0], "d": (p["a"] * p["b"][0],)}

    out = mx.vmap(fn, in_axes=({"a": 0, "b": [1]},))(params)
    assert set(out) == {"s", "d"} and isinstance(out["d"], tuple)
    close(out["s"], xs + ys.T)
    close(out["d"][0], xs * ys.T)
    # A prefix: one axis for a whole argument.
    out = mx.vmap(lambda p, q: p[0] * q, in_axes=(0, None))(
        [f64(xs), f64(xs)], f64(ys[:, 0]))
    close(out, xs * ys[:, 0])


def test_vmap_of_vmap_and_of_grad():
    xs = rand(2, 3, 4)
    out = mx.vmap(mx.vmap(lambda x: x.sum()))(f64(xs))
    close(out, xs.sum(axis=2))
    per_example = mx.vmap(mx.grad(lambda x: (x * x * x).sum()))(f64(xs[0]))
    close(per_example, 3 * xs[0] ** 2)


# ---------------------------------------------------------------- errors


def test_bad_argnums_and_argnames():
    f = lambda x, y: (x * y).sum()  # noqa: E731
    with pytest.raises(ValueError):
        mx.grad(f, argnums=-1)
    with pytest.raises(ValueError):
        mx.grad(f, argnums=[0, 0])
    with pytest.raises(ValueError):
        mx.grad(f, argnums=[])
    with pytest.raises(TypeError):
        mx.grad(f, argnums="0")
    with pytest.raises(TypeError):
        mx.grad(f, argnames=[1])
    with pytest.raises(TypeError):
        mx.grad(3)
    x = f64([1.0, 2.0])
    with pytest.raises(ValueError):
        mx.grad(f, argnums=2)(x, x)
    with pytest.raises(ValueError):
        mx.grad(f, argnames="z")(x, y=x)
    with pytest.raises(ValueError):
        mx.grad(f)(1.0, x)  # a Python float has no gradient
    with pytest.raises(ValueError):
        mx.grad(f)([x, "a"], x)


def test_bad_loss():
    x = f64([1.0, 2.0])
    with pytest.raises(ValueError):
        mx.grad(lambda x: x * 2.0)(x)  # not a scalar
    with pytest.raises(ValueError):
        mx.grad(lambda x: (x.sum(), x))(x)  # grad wants one array
    with pytest.raises(ValueError):
        mx.value_and_grad(lambda x: [x.sum()])(x)
    with pytest.raises(ValueError):
        mx.value_and_grad(lambda x: (1.0, x.sum()))(x)
    with pytest.raises(ValueError):
        mx.value_and_grad(lambda x: ())(x)


def test_bad_vjp_jvp_arguments():
    x = f64([1.0, 2.0])
    with pytest.raises(ValueError):
        mx.vjp(lambda x: x * 2.0, [x], [])
    with pytest.raises(ValueError):
        mx.vjp(lambda x: x * 2.0, [x], [x, x])
    with pytest.raises(ValueError):
        mx.vjp(lambda x: x * 2.0, [x], [f64([1.0, 2.0, 3.0])])
    with pytest.raises(ValueError):
        mx.jvp(lambda x: x * 2.0, [x], [x, x])
    with pytest.raises(ValueError):
        mx.jvp(lambda x: x * 2.0, [x], [f64([1.0])])
    with pytest.raises(TypeError):
        mx.vjp(lambda x: x, x, [x])
    with pytest.raises(TypeError):
        mx.jvp(lambda x: x, [1.0], [x])
    with pytest.raises(TypeError):
        mx.vjp(lambda x: "no", [x], [x])


def test_bad_vmap_arguments():
    X = f64(rand(3, 4))
    with pytest.raises(ValueError):
        mx.vmap(lambda x, y: x + y)(X, f64(rand(4, 4)))  # sizes differ
    with pytest.raises(ValueError):
        mx.vmap(lambda x: x, in_axes=2)(X)
    with pytest.raises(ValueError):
        mx.vmap(lambda x: x, in_axes=-3)(X)
    with pytest.raises(ValueError):
        mx.vmap(lambda x: x, out_axes=3)(X)
    with pytest.raises(ValueError):
        mx.vmap(lambda x, y: x, in_axes=(0, 0, 0))(X, X)
    with pytest.raises(ValueError):
        mx.vmap(lambda x, y: x, in_axes=(0, "a"))(X, X)
    with pytest.raises(ValueError):
        mx.vmap(lambda d: d["a"], in_axes=({"b": 0},))({"a": X})
    with pytest.raises(ValueError):
        mx.vmap(lambda x, n: x * n)(X, 2)
    with pytest.raises(ValueError):
        mx.vmap(lambda x: x, in_axes=None)(X)
    with pytest.raises(ValueError):
        mx.vmap(lambda x: (x, 3))(X)
    with pytest.raises(TypeError):
        mx.vmap(lambda x, y=None: x)(X, y=X)


class Boom(Exception):
    pass


@pytest.mark.parametrize("make", [
    lambda f: lambda x: mx.grad(f)(x),
    lambda f: lambda x: mx.value_and_grad(f)(x),
    lambda f: lambda x: mx.vmap(f)(x),
    lambda f: lambda x: mx.vjp(f, [x], [x]),
    lambda f: lambda x: mx.jvp(f, [x], [x]),
])
def test_python_exception_comes_out_unchanged(make):
    def f(x):
        raise Boom("inside")

    with pytest.raises(Boom, match="inside"):
        make(f)(f64([1.0, 2.0]))
    # and the module still works afterwards
    close(mx.grad(lambda x: (x * x).sum())(f64([1.0])), [2.0])


# ---------------------------------------------------------------- objects


def test_wrapper_attributes():
    def loss(x):
        """The loss."""
        return (x * x).sum()

    for t in [mx.grad(loss), mx.value_and_grad(loss), mx.vmap(loss)]:
        assert t.__name__ == "loss"
        assert t.__doc__ == "The loss."
        assert t.__wrapped__ is loss
        assert t.__qualname__.endswith("loss")
        assert callable(t)


def test_wrappers_are_collected():
    class Holder:
        pass

    h = Holder()
    h.g = mx.grad(lambda x: (x * h.scale).sum())  # a cycle through h
    h.scale = 2.0
    close(h.g(f64([1.0, 1.0])), [2.0, 2.0])
    r = weakref.ref(h.g)
    del h
    gc.collect()
    assert r() is None


def test_threads_call_one_transformed_function():
    g = mx.grad(lambda x: (x * x * x).sum())
    errors = []

    def work(seed):
        try:
            x = np.random.default_rng(seed).standard_normal(8)
            for _ in range(20):
                close(g(f64(x)), 3 * x * x)
        except Exception as e:  # pragma: no cover
            errors.append(e)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


# ---------------------------------------------------------------- compile


@needs_compile
def test_compile_of_grad_and_grad_of_compile():
    def f(x):
        return (mx.sin(x) * x).sum()

    x = rand(6)
    expect = np.cos(x) * x + np.sin(x)
    close(mx.compile(mx.grad(f))(f64(x)), expect)
    close(mx.grad(mx.compile(f))(f64(x)), expect)
    cg = mx.compile(mx.grad(mx.compile(f)))
    close(cg(f64(x)), expect)
    close(cg(f64(x + 1)), np.cos(x + 1) * (x + 1) + np.sin(x + 1))
    close(mx.grad(mx.grad(mx.compile(lambda x: x * x * x)))(f64(2.0)), 12.0)
    close(mx.compile(mx.grad(mx.grad(lambda x: x * x * x)))(f64(2.0)), 12.0)


@needs_compile
def test_compile_of_vmap_and_vmap_of_compile():
    xs = rand(5, 3)
    fn = lambda x: (mx.exp(x) * 2.0).sum()  # noqa: E731
    expect = (np.exp(xs) * 2).sum(axis=1)
    close(mx.vmap(mx.compile(fn))(f64(xs)), expect)
    close(mx.compile(mx.vmap(fn))(f64(xs)), expect)
    close(mx.compile(mx.vmap(mx.compile(fn)))(f64(xs)), expect)
    close(mx.compile(mx.vmap(fn, in_axes=1))(f64(xs.T)), expect)


@needs_compile
def test_value_and_grad_in_compiled_training_step():
    X, y = rand(16, 3), rand(16)
    w0 = rand(3)

    def loss(w, X, y):
        r = X @ w - y
        return (r * r).mean(), r

    def step(w, X, y):
        (l, _), g = mx.value_and_grad(loss)(w, X, y)
        return w - 0.1 * g, l

    cstep = mx.compile(step)
    w, cw = f64(w0), f64(w0)
    for _ in range(5):
        w, l = step(w, f64(X), f64(y))
        cw, cl = cstep(cw, f64(X), f64(y))
        close(cl, npy(l), rtol=1e-10)
    close(cw, npy(w), rtol=1e-10)
    # and against numpy
    wn = w0.copy()
    for _ in range(5):
        wn = wn - 0.1 * 2 * X.T @ (X @ wn - y) / 16
    close(w, wn)


@needs_compile
def test_compiled_grad_traces_once_and_keeps_trees_and_errors():
    calls = []

    def loss(p, x):
        calls.append(1)
        h = x @ p["w"] + p["b"]
        return (h * h).mean(), {"h": h}

    p = {"w": f64(rand(3, 2)), "b": f64(rand(2))}
    x = f64(rand(5, 3))
    step = mx.compile(mx.value_and_grad(loss))
    (l1, aux1), g1 = step(p, x)
    (l2, aux2), g2 = step(p, x)
    assert len(calls) == 1  # traced once, replayed the second time
    (l0, aux0), g0 = mx.value_and_grad(loss)(p, x)
    close(l1, npy(l0))
    close(aux2["h"], npy(aux0["h"]))
    for k in ("w", "b"):
        close(g1[k], npy(g0[k]))
        close(g2[k], npy(g0[k]))
    gc_ = mx.grad(mx.compile(lambda p, x: loss(p, x)[0]))(p, x)
    close(gc_["w"], npy(g0["w"]))

    def bad(x):
        raise Boom("compiled")

    with pytest.raises(Boom):
        mx.compile(mx.grad(bad))(f64([1.0]))
    with pytest.raises(Boom):
        mx.grad(mx.compile(bad))(f64([1.0]))
