"""The kiln.array type: operators (with MLX's promotion and weak Python
scalars), conversions, iteration, repr, copies and methods, with numpy as
the oracle for values."""
import copy
import itertools
import operator
import pickle

import numpy as np
import pytest

import kiln as mx

DTYPES = ["bool_", "int8", "uint8", "int32", "int64", "uint32", "float16",
          "float32", "float64"]
SIZE = {"bool_": 1, "int8": 1, "uint8": 1, "int32": 4, "int64": 8,
        "uint32": 4, "float16": 2, "float32": 4, "float64": 8}


def np_dtype(name):
    return np.bool_ if name == "bool_" else np.dtype(name)


def kind(name):
    if name == "bool_":
        return "b"
    return np.dtype(name).kind


def promote(a, b):
    """MLX's type promotion."""
    if a == b or b == "bool_":
        return a
    if a == "bool_":
        return b
    ka, kb = kind(a), kind(b)
    if ka == "f" and kb == "f":
        return "float64" if "float64" in (a, b) else "float32"
    if ka == "f":
        return a
    if kb == "f":
        return b
    if ka == kb:
        return a if SIZE[a] >= SIZE[b] else b
    u, s = (a, b) if ka == "u" else (b, a)
    if SIZE[u] < SIZE[s]:
        return s
    if SIZE[u] == 8:
        return "float32"
    return {1: "int16", 2: "int32", 4: "int64"}[SIZE[u]]


def values(name, shape, rng):
    """Small positive values (True mostly, so division stays finite)."""
    if name == "bool_":
        return rng.random(shape) < 0.8
    return rng.integers(1, 6, size=shape).astype(np_dtype(name))


def arr(n, name):
    return mx.array(n, dtype=getattr(mx, name))


def check(got, want_dtype, want_values):
    assert got.dtype == getattr(mx, want_dtype), (got.dtype, want_dtype)
    g = np.array(got)
    if kind(want_dtype) == "f":
        tol = 2e-3 if want_dtype == "float16" else 1e-5
        np.testing.assert_allclose(g.astype(np.float64), want_values,
                                   rtol=tol, atol=tol)
    else:
        np.testing.assert_array_equal(
            g, np.asarray(want_values).astype(np_dtype(want_dtype)))


# ------------------------------------------------------------------
# operators over dtypes
# ------------------------------------------------------------------

ARITH = [
    (operator.add, np.add), (operator.sub, np.subtract),
    (operator.mul, np.multiply), (operator.floordiv, np.floor_divide),
    (operator.mod, np.remainder), (operator.pow, np.power),
]
COMPARE = [operator.eq, operator.ne, operator.lt, operator.le, operator.gt,
           operator.ge]
BITWISE = [(operator.and_, np.bitwise_and), (operator.or_, np.bitwise_or),
           (operator.xor, np.bitwise_xor)]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("da,db", list(itertools.product(DTYPES, DTYPES)))
def test_binary_operators_over_dtypes(da, db):
    rng = np.random.default_rng(hash((da, db)) % 2**32)
    na = values(da, (2, 3), rng)
    nb = values(db, (3,), rng)     # broadcasts against (2, 3)
    a, b = arr(na, da), arr(nb, db)
    fa, fb = na.astype(np.float64), nb.astype(np.float64)
    res = promote(da, db)
    for op, nop in ARITH:
        if res == "bool_" and op in (operator.sub, operator.floordiv,
                                     operator.mod, operator.pow):
            continue
        if op in (operator.floordiv, operator.mod) and "bool_" in (da, db):
            continue
        check(op(a, b), res, nop(fa, fb))
    div = res if kind(res) == "f" else "float32"
    check(a / b, div, fa / fb)
    for op in COMPARE:
        check(op(a, b), "bool_", op(fa, fb))
    if kind(res) != "f":
        for op, nop in BITWISE:
            check(op(a, b), res, nop(na.astype(np.int64),
                                     nb.astype(np.int64)))
    else:
        for op, _ in BITWISE:
            with pytest.raises(ValueError):
                op(a, b)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", DTYPES)
def test_python_scalars_are_weak(name):
    rng = np.random.default_rng(5)
    n = values(name, (4,), rng)
    x = arr(n, name)
    f = n.astype(np.float64)
    k = kind(name)
    int_result = "int32" if name == "bool_" else name
    float_result = name if k == "f" else "float32"
    check(x + 2, int_result, f + 2)
    check(2 + x, int_result, 2 + f)
    check(x * 3, int_result, f * 3)
    check(3 - x, int_result, 3 - f)
    check(x + 2.5, float_result, f + 2.5)
    check(2.5 * x, float_result, 2.5 * f)
    check(x / 2, float_result, f / 2)
    check(1.0 / x, float_result, 1.0 / f)
    check(x ** 2, int_result, f ** 2)
    check(2 ** x, int_result, 2.0 ** f)
    check(x < 3, "bool_", f < 3)
    check(3 < x, "bool_", 3 < f)
    check(x == 2.0, "bool_", f == 2.0)
    check(x + True, name, f + 1 if name != "bool_" else np.logical_or(n,
                                                                     True))


def test_weak_typing_examples_from_mlx():
    assert (mx.array([1, 2], dtype=mx.float16) * 2.0).dtype == mx.float16
    assert (mx.array([1, 2], dtype=mx.int32) + 1.5).dtype == mx.float32
    assert (mx.array([1, 2], dtype=mx.int8) + 100).dtype == mx.int8
    assert (mx.array([1, 2], dtype=mx.uint8) - 1).dtype == mx.uint8
    assert (mx.array([True]) + 1).dtype == mx.int32


def test_python_int_overflowing_a_narrow_dtype_raises():
    with pytest.raises(ValueError):
        mx.array([1], dtype=mx.int8) + 200
    with pytest.raises(ValueError):
        mx.array([1], dtype=mx.uint8) + (-1)
    with pytest.raises(ValueError):
        mx.array([1], dtype=mx.int32) * 2**40
    with pytest.raises(ValueError):
        mx.array([1], dtype=mx.uint32) == -1
    assert (mx.array([1], dtype=mx.int64) + 2**40).item() == 2**40 + 1
    # module functions pairing an array with a Python int check it too
    u8 = mx.array([1, 7], dtype=mx.uint8)
    for f in [lambda: mx.maximum(u8, -1), lambda: mx.minimum(-1, u8),
              lambda: mx.add(u8, 300),
              lambda: mx.where(mx.array([True, False]), u8, 300),
              lambda: mx.clip(u8, -1, 3), lambda: mx.clip(u8, 0, 256)]:
        with pytest.raises(ValueError, match="overflow"):
            f()
    assert mx.maximum(u8, 3).tolist() == [3, 7]
    assert mx.clip(u8, 2, 5).tolist() == [2, 5]


def test_numpy_scalars_are_weak_like_python_ones():
    # as MLX: a NumPy scalar or 0-d array takes the array's dtype
    assert (mx.ones(2, dtype=mx.float16) * np.float32(3)).dtype == \
        mx.float16
    assert (mx.ones(2, dtype=mx.int8) + np.int64(3)).dtype == mx.int8
    assert (mx.ones(2, dtype=mx.uint8) + np.int32(3)).dtype == mx.uint8
    assert (mx.ones(2, dtype=mx.bfloat16) + np.float16(3)).dtype == \
        mx.bfloat16
    assert (mx.ones(2, dtype=mx.float16) *
            np.array(3.0, np.float32)).dtype == mx.float16
    assert mx.maximum(mx.ones(2, dtype=mx.float16),
                      np.float64(2)).dtype == mx.float16
    assert (mx.ones(2, dtype=mx.bool_) & np.bool_(True)).dtype == mx.bool_
    # a NumPy array with axes stays an array of its own dtype
    assert (mx.ones(2, dtype=mx.float16) *
            np.array([3.0, 4.0], np.float32)).dtype == mx.float32
    with pytest.raises(ValueError, match="overflow"):
        mx.array([1], dtype=mx.uint8) + np.int64(-1)


def test_operands_from_lists_and_numpy():
    x = mx.array([1, 2, 3])
    assert (x + [1, 1, 1]).tolist() == [2, 3, 4]
    assert ([1, 1, 1] - x).tolist() == [0, -1, -2]
    assert (x * np.array([2, 2, 2], np.int32)).tolist() == [2, 4, 6]
    y = x + np.float64(0.5)
    assert y.dtype == mx.float32


def test_unconvertible_operands_raise_type_error():
    x = mx.array([1, 2])
    for other in ["a", None, object(), {}]:
        with pytest.raises(TypeError):
            x + other
        with pytest.raises(TypeError):
            other * x
        with pytest.raises(TypeError):
            x < other
    assert (x == None) is False  # noqa: E711 (MLX: False, not an array)
    assert (x != None) is True   # noqa: E711
    assert (x == "a") is False
    with pytest.raises(TypeError):
        pow(x, 2, 3)


def test_matmul():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 2)).astype(np.float32)
    np.testing.assert_allclose(np.array(mx.array(a) @ mx.array(b)), a @ b,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.array(a[0].tolist() @ mx.array(b)),
                               a[0] @ b, rtol=1e-5, atol=1e-5)
    x = mx.array(a)
    x @= mx.array(b)
    assert x.shape == (3, 2)


def test_shifts_and_invert():
    x = mx.array([1, 2, 8], dtype=mx.int32)
    assert (x << 2).tolist() == [4, 8, 32]
    assert (x >> 1).tolist() == [0, 1, 4]
    assert (1 << x).tolist() == [2, 4, 256]
    assert (~x).tolist() == [-2, -3, -9]
    assert (~mx.array([1], dtype=mx.uint8)).tolist() == [254]
    b = ~mx.array([True, False])
    assert b.dtype == mx.bool_ and b.tolist() == [False, True]
    with pytest.raises(ValueError):
        ~mx.array([1.0])
    with pytest.raises(ValueError):
        mx.array([1.0]) << 1
    with pytest.raises(ValueError):
        mx.array([1]) | 1.5


def test_unary_operators():
    n = np.array([-1.5, 0.0, 2.0], np.float32)
    x = mx.array(n)
    np.testing.assert_array_equal(np.array(-x), -n)
    np.testing.assert_array_equal(np.array(+x), n)
    np.testing.assert_array_equal(np.array(abs(x)), np.abs(n))
    assert (-mx.array([1, 2], dtype=mx.int8)).dtype == mx.int8


# ------------------------------------------------------------------
# in-place operators
# ------------------------------------------------------------------

def test_inplace_operators_replace_the_value_of_the_same_object():
    x = mx.array([1, 2, 3])
    alias = x
    before = x
    x += 1
    assert x is before and alias.tolist() == [2, 3, 4]
    x -= mx.array([1, 1, 1])
    x *= 3
    x //= 2
    x %= 4
    x **= 2
    x <<= 1
    x >>= 1
    x |= 8
    x &= 12
    x ^= 1
    n = np.array([1, 2, 3])
    n += 1
    n -= 1
    n *= 3
    n //= 2
    n %= 4
    n **= 2
    n <<= 1
    n >>= 1
    n |= 8
    n &= 12
    n ^= 1
    assert alias.tolist() == n.tolist()


def test_inplace_may_promote_except_true_division():
    x = mx.array([1, 2])
    x += 1.5
    assert x.dtype == mx.float32 and x.tolist() == [2.5, 3.5]
    x /= 2
    assert x.tolist() == [1.25, 1.75]
    i = mx.array([1, 2])
    with pytest.raises(ValueError):
        i /= 2
    assert i.tolist() == [1, 2] and i.dtype == mx.int32


def test_copies_do_not_see_inplace_updates():
    x = mx.array([1, 2])
    c = copy.copy(x)
    d = copy.deepcopy(x)
    x += 10
    assert c.tolist() == [1, 2] and d.tolist() == [1, 2]


def test_buffer_outlives_inplace_updates():
    x = mx.array(np.arange(1000, dtype=np.float32))
    m = memoryview(x)
    x += 1
    x *= 0
    assert m[999] == 999.0
    assert np.array(x)[999] == 0


# ------------------------------------------------------------------
# conversions, len, iteration, hashing
# ------------------------------------------------------------------

def test_bool_int_float_index():
    assert bool(mx.array(True)) and not bool(mx.array([0]))
    assert bool(mx.array([[2.5]]))
    with pytest.raises(ValueError):
        bool(mx.array([1, 2]))
    with pytest.raises(ValueError):
        bool(mx.array([]))
    assert int(mx.array(3.7)) == 3 and isinstance(int(mx.array(3.7)), int)
    assert float(mx.array([2])) == 2.0
    with pytest.raises(ValueError):
        int(mx.array([1, 2]))
    assert operator.index(mx.array(4)) == 4
    assert [10, 20, 30][mx.array(1)] == 20
    assert list(range(5))[mx.array(1):mx.array(3)] == [1, 2]
    for bad in [mx.array([1]), mx.array(1.0), mx.array(True)]:
        with pytest.raises(TypeError):
            operator.index(bad)


def test_len_and_iteration():
    n = np.arange(12).reshape(3, 4)
    x = mx.array(n)
    assert len(x) == 3
    rows = list(x)
    assert len(rows) == 3
    for r, w in zip(rows, n):
        assert r.shape == (4,)
        np.testing.assert_array_equal(np.array(r), w)
    assert [v.item() for v in mx.array([5, 6])] == [5, 6]
    assert list(mx.array(np.zeros((0, 2)))) == []
    with pytest.raises(TypeError):
        len(mx.array(1))
    with pytest.raises(TypeError):
        iter(mx.array(1))
    a, b = mx.array([1, 2])
    assert a.item() == 1 and b.item() == 2


def test_hash_is_identity():
    x, y = mx.array([1]), mx.array([1])
    assert hash(x) == hash(x) and len({x, y}) == 2
    assert {x: "a"}[x] == "a"


# ------------------------------------------------------------------
# repr, format
# ------------------------------------------------------------------

def test_repr_matches_mlx():
    assert repr(mx.array([1, 2, 3])) == "array([1, 2, 3], dtype=int32)"
    assert repr(mx.array(1.5)) == "array(1.5, dtype=float32)"
    assert str(mx.array(7)) == "array(7, dtype=int32)"
    assert repr(mx.array([True, False])) == \
        "array([True, False], dtype=bool)"
    assert repr(mx.array([1.0, 2.5, 0.1])) == \
        "array([1, 2.5, 0.1], dtype=float32)"
    assert repr(mx.array([[1, 2], [3, 4]])) == \
        "array([[1, 2],\n       [3, 4]], dtype=int32)"
    assert repr(mx.array(np.arange(8).reshape(2, 2, 2).astype(np.uint8))) \
        == ("array([[[0, 1],\n        [2, 3]],\n"
            "       [[4, 5],\n        [6, 7]]], dtype=uint8)")
    assert repr(mx.array([])) == "array([], dtype=float32)"
    assert repr(mx.array([1e-7, 1e10, float("inf"), -2.0])) == \
        "array([1e-07, 1e+10, inf, -2], dtype=float32)"
    assert repr(mx.array([0.5], dtype=mx.bfloat16)) == \
        "array([0.5], dtype=bfloat16)"


def test_repr_summarises_long_axes():
    x = mx.array(list(range(10)))
    assert repr(x) == "array([0, 1, 2, ..., 7, 8, 9], dtype=int32)"
    big = mx.array(np.arange(100 * 100, dtype=np.int32).reshape(100, 100))
    lines = repr(big).split("\n")
    assert lines[0] == "array([[0, 1, 2, ..., 97, 98, 99],"
    assert lines[3] == "       ...,"
    assert lines[-1] == \
        "       [9900, 9901, 9902, ..., 9997, 9998, 9999]], dtype=int32)"
    assert len(lines) == 7
    assert repr(mx.array(np.arange(7))) == \
        "array([0, 1, 2, ..., 4, 5, 6], dtype=int64)"
    assert repr(mx.array(list(range(6)))) == \
        "array([0, 1, 2, 3, 4, 5], dtype=int32)"


def test_format():
    assert f"{mx.array(3.14159):.2f}" == "3.14"
    assert f"{mx.array(7):>3}" == "  7"
    assert f"{mx.array([1, 2])}" == "array([1, 2], dtype=int32)"
    with pytest.raises(TypeError):
        f"{mx.array([1, 2]):.2f}"


# ------------------------------------------------------------------
# pickling
# ------------------------------------------------------------------

@pytest.mark.parametrize("dt", [mx.bool_, mx.uint8, mx.int32, mx.int64,
                                mx.float16, mx.bfloat16, mx.float32,
                                mx.float64])
def test_pickle_round_trip(dt):
    x = mx.array(np.arange(6).reshape(2, 3) % 3, dtype=dt)
    y = pickle.loads(pickle.dumps(x))
    assert y.dtype == dt and y.shape == (2, 3)
    assert y.tolist() == x.tolist()
    z = pickle.loads(pickle.dumps(mx.array(2.5)))
    assert z.shape == () and z.item() == 2.5


def test_setstate_rejects_bad_state():
    x = mx.array(0)
    with pytest.raises(ValueError):
        x.__setstate__(("int32", (2,), b"\0" * 4))
    with pytest.raises(ValueError):
        x.__setstate__(("complex", (), b""))
    with pytest.raises(TypeError):
        x.__setstate__(("int32", (1,)))
    assert x.item() == 0


# ------------------------------------------------------------------
# methods built here
# ------------------------------------------------------------------

def test_shape_methods():
    n = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = mx.array(n)
    np.testing.assert_array_equal(np.array(x.T), n.T)
    np.testing.assert_array_equal(np.array(x.transpose()), n.transpose())
    np.testing.assert_array_equal(np.array(x.transpose(1, 0, 2)),
                                  n.transpose(1, 0, 2))
    np.testing.assert_array_equal(np.array(x.transpose((2, 0, 1))),
                                  n.transpose(2, 0, 1))
    np.testing.assert_array_equal(np.array(x.reshape(4, 6)), n.reshape(4, 6))
    np.testing.assert_array_equal(np.array(x.reshape((-1, 2))),
                                  n.reshape(-1, 2))
    np.testing.assert_array_equal(np.array(x.reshape([24])), n.reshape(24))
    assert x.flatten().shape == (24,)
    assert x.flatten(1).shape == (2, 12)
    assert x.flatten(start_axis=0, end_axis=1).shape == (6, 4)
    s = mx.array(np.zeros((1, 3, 1)))
    assert s.squeeze().shape == (3,)
    assert s.squeeze(0).shape == (3, 1)
    assert s.squeeze(axis=(0, 2)).shape == (3,)
    assert x.astype(mx.int8).dtype == mx.int8
    assert x.astype(mx.float16, stream=None).dtype == mx.float16
    assert x.reshape(6, 4, stream=None).shape == (6, 4)
    with pytest.raises(TypeError):
        x.astype(None)
    with pytest.raises(TypeError):
        x.reshape()
    with pytest.raises(TypeError):
        x.reshape(2, 12, foo=1)
    with pytest.raises(ValueError):
        x.reshape(5, 5)
    with pytest.raises(ValueError):
        s.squeeze(1)


# ------------------------------------------------------------------
# methods forwarded to module functions
# ------------------------------------------------------------------

def fwd_cases():
    rng = np.random.default_rng(4)
    n = (rng.random((3, 4)) + 0.5).astype(np.float32)
    return n, [
        ("sum", (), {}, n.sum()),
        ("sum", (0,), {}, n.sum(0)),
        ("sum", (), {"axis": 1, "keepdims": True}, n.sum(1, keepdims=True)),
        ("mean", (), {"axis": (0, 1)}, n.mean()),
        ("max", (1,), {}, n.max(1)),
        ("min", (), {}, n.min()),
        ("prod", (0,), {}, n.prod(0)),
        ("all", (), {}, n.all()),
        ("any", (1,), {}, n.any(1)),
        ("logsumexp", (1,), {}, np.log(np.exp(n).sum(1))),
        ("argmax", (), {"axis": 1}, n.argmax(1)),
        ("argmin", (0,), {"keepdims": True}, n.argmin(0)[None]),
        ("var", (0,), {}, n.var(0)),
        ("std", (), {"axis": 1, "ddof": 1}, n.std(1, ddof=1)),
        ("cumsum", (1,), {}, n.cumsum(1)),
        ("cumprod", (0,), {}, n.cumprod(0)),
        ("cummax", (1,), {}, np.maximum.accumulate(n, 1)),
        ("cummin", (1,), {}, np.minimum.accumulate(n, 1)),
        ("abs", (), {}, np.abs(n)),
        ("exp", (), {}, np.exp(n)),
        ("log", (), {}, np.log(n)),
        ("log1p", (), {}, np.log1p(n)),
        ("log2", (), {}, np.log2(n)),
        ("log10", (), {}, np.log10(n)),
        ("sin", (), {}, np.sin(n)),
        ("cos", (), {}, np.cos(n)),
        ("sqrt", (), {}, np.sqrt(n)),
        ("rsqrt", (), {}, 1 / np.sqrt(n)),
        ("square", (), {}, n * n),
        ("reciprocal", (), {}, 1 / n),
        ("round", (), {"decimals": 1}, np.round(n, 1)),
        ("swapaxes", (0, 1), {}, n.swapaxes(0, 1)),
        ("moveaxis", (0, 1), {}, np.moveaxis(n, 0, 1)),
        ("diag", (), {}, np.diag(n)),
        ("diagonal", (), {"offset": 1}, np.diagonal(n, 1)),
    ]


@pytest.mark.parametrize("case", range(len(fwd_cases()[1])))
def test_forwarded_methods_match_numpy(case):
    n, cases = fwd_cases()
    name, args, kw, want = cases[case]
    got = getattr(mx.array(n), name)(*args, **kw)
    g = np.array(got)
    assert g.shape == np.shape(want), name
    np.testing.assert_allclose(g.astype(np.float64),
                               np.asarray(want, np.float64), rtol=1e-4,
                               atol=1e-5, err_msg=name)


def test_forwarded_split():
    n = np.arange(12).reshape(4, 3)
    parts = mx.array(n).split(2)
    assert len(parts) == 2
    for p, w in zip(parts, np.split(n, 2)):
        np.testing.assert_array_equal(np.array(p), w)
    parts = mx.array(n).split([1], axis=1)
    for p, w in zip(parts, np.split(n, [1], axis=1)):
        np.testing.assert_array_equal(np.array(p), w)


def test_forwarded_methods_reach_the_module_function():
    x = mx.array([[1.0, 2.0], [3.0, 4.0]])
    assert x.sum(axis=0).tolist() == mx.sum(x, axis=0).tolist()
    with pytest.raises(TypeError):
        x.sum(nonsense=1)
