"""The math functions of the kiln module (elementwise ops, reductions,
scans, linear algebra, whole-array comparisons) against numpy, with MLX's
dtype rules: MLX's type promotion, weak Python scalars, float results for
integer inputs of transcendental ops."""
import math
import pathlib
import re

import numpy as np
import pytest

import kiln as mx

HEADER = pathlib.Path(__file__).resolve().parents[2] / "include" / "kiln.h"

# ---------------------------------------------------------------------------
# dtypes and conversion helpers
# ---------------------------------------------------------------------------

DTYPES = ["bool", "uint8", "int32", "int64", "float16", "bfloat16",
          "float32", "float64"]
FLOATS = {"float16", "bfloat16", "float32", "float64"}
KDT = {"bool": mx.bool_, "uint8": mx.uint8, "int32": mx.int32,
       "int64": mx.int64, "float16": mx.float16, "bfloat16": mx.bfloat16,
       "float32": mx.float32, "float64": mx.float64}
NAME = {v: k for k, v in KDT.items()}
NAME[mx.uint32] = "uint32"
# numpy dtype an oracle's float result is rounded to before comparing
ROUND_TO = {"float16": np.float16, "bfloat16": np.float32,
            "float32": np.float32, "float64": np.float64}
FLOAT_RANK = {"float16": 0, "bfloat16": 0, "float32": 1, "float64": 2}

# Relative and absolute tolerance of a result of each float dtype.
TOL = {"float16": (4e-3, 4e-3), "bfloat16": (3e-2, 3e-2),
       "float32": (2e-5, 1e-5), "float64": (1e-12, 1e-12)}


def promote(a, b):
    """MLX's promotion on the dtypes of the grid."""
    if a == b:
        return a
    if a == "bool":
        return b
    if b == "bool":
        return a
    fa, fb = a in FLOATS, b in FLOATS
    if fa and fb:
        if {a, b} == {"float16", "bfloat16"}:
            return "float32"
        return a if FLOAT_RANK[a] > FLOAT_RANK[b] else b
    if fa or fb:
        return a if fa else b
    return np.promote_types(a, b).name


def to_float(dt):
    return dt if dt in FLOATS else "float32"


def mk(values, dt):
    """A kiln array of dtype dt holding `values`."""
    v = np.asarray(values)
    if dt == "bfloat16":
        return mx.array(v.astype(np.float32), dtype=mx.bfloat16)
    return mx.array(v.astype(dt), dtype=KDT[dt])


def to_np(x):
    """A kiln array's values as numpy (bfloat16 as float32)."""
    if x.dtype == mx.bfloat16:
        return np.array(x.tolist(), dtype=np.float32).reshape(x.shape)
    return np.array(x)


def check(got, want, dt):
    """got (kiln) has dtype dt and the values of want (numpy)."""
    assert NAME[got.dtype] == dt, (NAME[got.dtype], dt)
    g = to_np(got)
    w = np.asarray(want)
    assert g.shape == w.shape
    if dt in FLOATS:
        rtol, atol = TOL[dt]
        with np.errstate(over="ignore"):
            w = w.astype(ROUND_TO[dt])  # overflows to inf as the result
        np.testing.assert_allclose(g.astype(np.float64),
                                   w.astype(np.float64), rtol=rtol,
                                   atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(g, w.astype(dt))


def values(dt, kind="a"):
    """Sample values of dtype dt, shape (2, 3) for 'a', (3,) otherwise."""
    if kind == "a":
        table = {"bool": [[True, False, True], [False, True, False]],
                 "uint8": [[0, 1, 2], [3, 7, 200]],
                 "signed": [[-3, -1, 0], [1, 2, 5]],
                 "float": [[-2.5, -1.0, 0.0], [0.5, 1.5, 3.0]]}
    elif kind == "b":
        table = {"bool": [True, True, False], "uint8": [2, 3, 1],
                 "signed": [2, -3, 1], "float": [1.5, -2.0, 0.75]}
    elif kind == "nonzero":
        table = {"bool": [True, True, True], "uint8": [2, 3, 1],
                 "signed": [2, -3, 1], "float": [1.5, -2.0, 0.75]}
    else:  # small non-negative exponents and shifts
        table = {"bool": [True, False, True], "uint8": [0, 1, 3],
                 "signed": [0, 1, 3], "float": [0.0, 1.0, 3.0]}
    if dt in FLOATS:
        return table["float"]
    if dt in ("bool", "uint8"):
        return table[dt]
    return table["signed"]


# ---------------------------------------------------------------------------
# unary elementwise ops
# ---------------------------------------------------------------------------

def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


_erf = np.vectorize(math.erf, otypes=[np.float64])

# name -> (numpy oracle on float64 / integer values, dtype rule)
#   "float": int and bool inputs compute in float32
#   "same": the input dtype     "bool": a bool result
#   "numeric": the input dtype, bool rejected
#   "integer": integers and bool only
UNARY = {
    "abs": (np.abs, "same"), "negative": (np.negative, "numeric"),
    "sign": (np.sign, "numeric"), "square": (np.square, "same"),
    "sqrt": (np.sqrt, "float"), "rsqrt": (lambda x: 1 / np.sqrt(x), "float"),
    "reciprocal": (lambda x: 1 / x, "float"), "exp": (np.exp, "float"),
    "expm1": (np.expm1, "float"), "log": (np.log, "float"),
    "log1p": (np.log1p, "float"), "log2": (np.log2, "float"),
    "log10": (np.log10, "float"), "sin": (np.sin, "float"),
    "cos": (np.cos, "float"), "tan": (np.tan, "float"),
    "arcsin": (np.arcsin, "float"), "arccos": (np.arccos, "float"),
    "arctan": (np.arctan, "float"), "sinh": (np.sinh, "float"),
    "cosh": (np.cosh, "float"), "tanh": (np.tanh, "float"),
    "arcsinh": (np.arcsinh, "float"), "arccosh": (np.arccosh, "float"),
    "arctanh": (np.arctanh, "float"), "sigmoid": (_sigmoid, "float"),
    "erf": (_erf, "float"), "floor": (np.floor, "numeric"),
    "ceil": (np.ceil, "numeric"), "logical_not": (np.logical_not, "bool"),
    "bitwise_invert": (np.invert, "integer"),
    "isnan": (np.isnan, "bool"), "isinf": (np.isinf, "bool"),
    "isfinite": (np.isfinite, "bool"), "isposinf": (np.isposinf, "bool"),
    "isneginf": (np.isneginf, "bool"),
    "stop_gradient": (lambda x: x, "same"),
}

UNARY_SPECIAL = [float("nan"), float("inf"), -float("inf"), -0.0, 0.25, -4.0]


def unary_expect(name, dt):
    """The result dtype, or None when the op rejects dt (TypeError)."""
    rule = UNARY[name][1]
    if rule == "float":
        return to_float(dt)
    if rule == "bool":
        return "bool"
    if rule == "numeric":
        return None if dt == "bool" else dt
    if rule == "integer":
        return None if dt in FLOATS else dt
    return dt


def header_list(macro):
    """The op names of an X-macro list of include/kiln.h."""
    text = HEADER.read_text()
    body = text[text.index("#define " + macro):]
    body = body[:body.index("\n\n")]
    return set(re.findall(r"X\((\w+)\)", body))


def test_unary_table_covers_every_op():
    names = set(UNARY) | {"erfinv"}
    assert names == header_list("KILN_UNARY_OP_LIST")
    for n in names:
        assert callable(getattr(mx, n))


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, dt):
    fn, _ = UNARY[name]
    rdt = unary_expect(name, dt)
    vals = values(dt)
    if dt in FLOATS:
        vals = [vals[0] + vals[1], UNARY_SPECIAL]
    x = mk(vals, dt)
    if rdt is None:
        with pytest.raises(TypeError):
            getattr(mx, name)(x)
        return
    y = getattr(mx, name)(x)
    xv = to_np(x)
    with np.errstate(all="ignore"):
        if rdt in FLOATS and dt not in FLOATS:
            want = fn(xv.astype(np.float32).astype(np.float64))
        elif rdt in FLOATS:
            want = fn(xv.astype(np.float64))
        else:
            want = fn(xv)
    check(y, want, rdt)
    assert y.shape == x.shape


@pytest.mark.parametrize("dt", ["float16", "bfloat16", "float32",
                                "float64"])
def test_erfinv_inverts_erf(dt):
    v = np.array([-0.9, -0.5, 0.0, 0.3, 0.7, 0.99])
    y = mx.erfinv(mk(v, dt))
    assert y.dtype == KDT[dt]
    back = _erf(to_np(y).astype(np.float64))
    rtol, atol = TOL[dt]
    np.testing.assert_allclose(back, to_np(mk(v, dt)), rtol=4 * rtol,
                               atol=4 * atol)
    ends = to_np(mx.erfinv(mk([1.0, -1.0, 2.0], dt)))
    assert ends[0] == np.inf and ends[1] == -np.inf and np.isnan(ends[2])
    assert mx.erfinv(mk([0, 0], "int32")).dtype == mx.float32


def test_unary_accepts_scalars_lists_numpy():
    assert mx.exp(0.0).item() == 1.0 and mx.exp(0.0).dtype == mx.float32
    assert mx.abs(-3).dtype == mx.int32 and mx.abs(-3).item() == 3
    assert mx.logical_not(True).item() is False
    np.testing.assert_array_equal(np.array(mx.square([1, 2, 3])), [1, 4, 9])
    y = mx.sqrt(np.array([4.0, 9.0]))  # float64 numpy becomes float32
    assert y.dtype == mx.float32 and y.tolist() == [2.0, 3.0]
    assert mx.sqrt(np.array([4.0], dtype=np.float16)).dtype == mx.float16
    assert mx.exp(mx.array([0.0]), stream=None).tolist() == [1.0]


def test_unary_shapes_and_views():
    for shape in [(), (0,), (0, 3), (2, 1, 3)]:
        n = np.full(shape, 2.0, np.float32)
        y = mx.exp(mx.array(n))
        assert y.shape == shape
        np.testing.assert_allclose(np.array(y), np.exp(n), rtol=1e-6)
    n = np.arange(12, dtype=np.float32).reshape(3, 4)
    for v in (n.T, n[:, ::-2], n[1:, 1:3]):
        np.testing.assert_allclose(np.array(mx.sin(mx.array(v))), np.sin(v),
                                   rtol=1e-5, atol=1e-6)


def test_unary_bad_calls():
    with pytest.raises(TypeError):
        mx.exp()
    with pytest.raises(TypeError):
        mx.exp(mx.array(1.0), mx.array(2.0))
    with pytest.raises(TypeError):
        mx.exp(a=mx.array(1.0))  # positional-only, as MLX
    with pytest.raises(TypeError):
        mx.exp(mx.array(1.0), axis=0)
    with pytest.raises(TypeError):
        mx.exp("abc")
    with pytest.raises(TypeError):
        mx.exp(object())
    with pytest.raises(TypeError):
        mx.bitwise_invert(mx.array([1.5]))


# ---------------------------------------------------------------------------
# binary elementwise ops
# ---------------------------------------------------------------------------

def _int_floor_divide(a, b):
    return np.floor_divide(a, b)


# name -> (numpy oracle, dtype rule, operand kind of b)
BINARY = {
    "add": (np.add, "same", "b"), "subtract": (np.subtract, "same", "b"),
    "multiply": (np.multiply, "same", "b"),
    "divide": (np.divide, "float", "nonzero"),
    "floor_divide": (np.floor_divide, "same", "nonzero"),
    "remainder": (np.remainder, "same", "nonzero"),
    "power": (np.power, "same", "exp"),
    "maximum": (np.maximum, "same", "b"), "minimum": (np.minimum, "same", "b"),
    "equal": (np.equal, "cmp", "b"), "not_equal": (np.not_equal, "cmp", "b"),
    "less": (np.less, "cmp", "b"), "less_equal": (np.less_equal, "cmp", "b"),
    "greater": (np.greater, "cmp", "b"),
    "greater_equal": (np.greater_equal, "cmp", "b"),
    "logical_and": (np.logical_and, "bool", "b"),
    "logical_or": (np.logical_or, "bool", "b"),
    "bitwise_and": (np.bitwise_and, "integer", "b"),
    "bitwise_or": (np.bitwise_or, "integer", "b"),
    "bitwise_xor": (np.bitwise_xor, "integer", "b"),
    "left_shift": (np.left_shift, "integer", "exp"),
    "right_shift": (np.right_shift, "integer", "exp"),
    "arctan2": (np.arctan2, "float", "b"),
    "logaddexp": (np.logaddexp, "float", "b"),
}


# Ops kiln rejects on two bool operands (as numpy does for subtract).
BOOL_REJECT = {"subtract", "floor_divide", "remainder", "power",
               "left_shift", "right_shift"}


def binary_expect(name, da, db):
    rule = BINARY[name][1]
    p = promote(da, db)
    if rule == "float":
        return to_float(p)
    if rule in ("cmp", "bool"):
        return "bool"
    if rule == "integer":
        return None if p in FLOATS else p
    return p


def binary_oracle(name, av, bv, da, db, rdt):
    """numpy's answer on the promoted values."""
    fn, rule, _ = BINARY[name]
    p = promote(da, db)
    with np.errstate(all="ignore"):
        if p in FLOATS:
            # MLX casts both operands to the promoted dtype first
            a = to_np(mk(av, p)).astype(np.float64)
            b = to_np(mk(bv, p)).astype(np.float64)
            return fn(a, b)
        if rule == "float":  # integer operands computed in float32
            return fn(av.astype(np.float32).astype(np.float64),
                      bv.astype(np.float32).astype(np.float64))
        if rule in ("cmp", "bool"):
            return fn(av.astype(np.int64), bv.astype(np.int64))
        # integer (or bool) arithmetic in int64, then wrapped to p
        r = fn(av.astype(np.int64), bv.astype(np.int64))
        return r.astype(p)


def test_binary_table_covers_every_op():
    assert set(BINARY) == header_list("KILN_BINARY_OP_LIST")
    for n in BINARY:
        assert callable(getattr(mx, n))


@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary(name, da):
    kind = BINARY[name][2]
    for db in DTYPES:
        rdt = binary_expect(name, da, db)
        a = mk(values(da), da)
        b = mk(values(db, kind), db)
        if rdt is None:
            with pytest.raises(TypeError):
                getattr(mx, name)(a, b)
            continue
        if name in BOOL_REJECT and da == db == "bool":
            with pytest.raises(TypeError):
                getattr(mx, name)(a, b)
            continue
        y = getattr(mx, name)(a, b)
        assert y.shape == (2, 3)
        want = binary_oracle(name, to_np(a), to_np(b), da, db, rdt)
        try:
            check(y, want, rdt)
        except AssertionError as e:
            raise AssertionError(f"{name}({da}, {db}): {e}") from None


@pytest.mark.parametrize("sa,sb", [((), ()), ((), (3,)), ((3,), ()),
                                   ((2, 1), (3,)), ((2, 3), (2, 3)),
                                   ((0, 3), (3,)), ((4, 1, 3), (2, 1)),
                                   ((0,), (1,))])
def test_binary_broadcasting(sa, sb):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    for name in ("add", "multiply", "maximum", "less", "arctan2"):
        y = getattr(mx, name)(mx.array(a), mx.array(b))
        want = getattr(np, name)(a, b)
        assert y.shape == want.shape
        np.testing.assert_allclose(to_np(y), want, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError):
        mx.add(mx.array(np.zeros((2, 3), np.float32)),
               mx.array(np.zeros((4,), np.float32)))


def test_binary_strided_inputs():
    n = np.arange(12, dtype=np.float32).reshape(3, 4)
    a, b = n.T, n[::-1].T  # non-contiguous numpy inputs
    np.testing.assert_array_equal(np.array(mx.subtract(a, b)), a - b)
    if hasattr(mx, "transpose"):
        x = mx.transpose(mx.array(n))
        np.testing.assert_array_equal(np.array(mx.add(x, x)), n.T + n.T)
        np.testing.assert_array_equal(np.array(mx.multiply(x, 2)),
                                      n.T * 2)


def test_weak_python_scalars():
    h = mx.array([1.0, 2.0], dtype=mx.float16)
    assert mx.add(h, 2.0).dtype == mx.float16
    assert mx.multiply(3, h).dtype == mx.float16
    assert mx.add(mx.array([1], dtype=mx.uint8), 2).dtype == mx.uint8
    assert mx.add(mx.array([1], dtype=mx.int64), 2).dtype == mx.int64
    assert mx.add(mx.array([1]), 2.5).dtype == mx.float32
    assert mx.add(mx.array([1], dtype=mx.int8), 2.5).dtype == mx.float32
    assert mx.add(mx.array([True]), 1).dtype == mx.int32
    assert mx.add(mx.array([True]), 1.5).dtype == mx.float32
    b = mx.array([1.0], dtype=mx.bfloat16)
    assert mx.maximum(b, 0).dtype == mx.bfloat16
    assert mx.less(h, 1.5).dtype == mx.bool_
    # the weak operand takes the array's dtype from its exact value
    d = mx.array([0.0], dtype=mx.float64)
    assert mx.add(d, 0.1).tolist() == [0.1]
    # two Python scalars: both plain arrays, as MLX
    r = mx.add(1, 2.5)
    assert r.dtype == mx.float32 and r.item() == 3.5
    assert mx.add(1, 2).dtype == mx.int32
    assert mx.multiply(True, False).dtype == mx.bool_
    assert mx.add(mx.add(1, 2.5), h).dtype == mx.float32
    # lists and numpy arrays are arrays, not weak scalars
    assert mx.add(h, [1.0, 2.0]).dtype == mx.float32
    assert mx.add(h, np.array([1, 2], np.int32)).dtype == mx.float16
    assert mx.add(np.array([1, 2], np.int64), 1).dtype == mx.int64


def test_nan_inf_cases():
    nan, inf = float("nan"), float("inf")
    a = mx.array([nan, inf, -inf, 1.0, 0.0])
    b = mx.array([1.0, inf, inf, nan, 0.0])
    with np.errstate(all="ignore"):
        na, nb = to_np(a), to_np(b)
        for name in ("add", "subtract", "multiply", "divide", "maximum",
                     "minimum", "power", "arctan2", "logaddexp"):
            got = to_np(getattr(mx, name)(a, b))
            np.testing.assert_allclose(got, getattr(np, name)(na, nb),
                                       equal_nan=True, rtol=1e-6)
        for name in ("equal", "not_equal", "less", "greater_equal"):
            got = to_np(getattr(mx, name)(a, b))
            np.testing.assert_array_equal(got, getattr(np, name)(na, nb))


def test_integer_division_by_zero_does_not_crash():
    a = mx.array([1, -7, 0], dtype=mx.int32)
    z = mx.array([0, 0, 0], dtype=mx.int32)
    for f in (mx.floor_divide, mx.remainder):
        assert f(a, z).shape == (3,)
        f(a, z).tolist()
    m = mx.array([-2**63], dtype=mx.int64)
    mx.floor_divide(m, mx.array([-1], dtype=mx.int64)).tolist()
    mx.remainder(m, mx.array([-1], dtype=mx.int64)).tolist()


def test_binary_bad_calls():
    with pytest.raises(TypeError):
        mx.add(mx.array(1.0))
    with pytest.raises(TypeError):
        mx.add(a=1, b=2)
    with pytest.raises(TypeError):
        mx.add(mx.array(1.0), "x")
    with pytest.raises(TypeError):
        mx.add(mx.array(1.0), None)
    with pytest.raises(TypeError):
        mx.bitwise_and(mx.array([1.0]), mx.array([1]))
    with pytest.raises(TypeError):
        mx.left_shift(mx.array([1]), 1.5)
    with pytest.raises(ValueError, match="overflow"):
        mx.add(mx.array([1]), 2**80)  # as the + operator
    with pytest.raises(OverflowError):
        mx.add(mx.array([1.0]), 2**80)
    assert mx.add(mx.array([1.0]), mx.array([2.0]), stream=None).tolist() \
        == [3.0]


# ---------------------------------------------------------------------------
# round, where, clip, degrees, radians, divmod, nan_to_num
# ---------------------------------------------------------------------------

def test_round():
    v = [0.5, 1.5, 2.5, -0.5, -1.5, 1.2345, -2.675, 123.456]
    for dt in ("float16", "float32", "float64"):
        x = mk(v, dt)
        xv = to_np(x)
        check(mx.round(x), np.round(xv), dt)
        # numpy scales in the array's own dtype too
        check(mx.round(x, 2), np.round(xv, 2), dt)
        check(mx.round(x, decimals=-1), np.round(xv, -1), dt)
    ints = mx.array([14, 15, 25, -25, 7])
    check(mx.round(ints), np.array([14, 15, 25, -25, 7]), "int32")
    check(mx.round(ints, -1), np.round(np.array([14, 15, 25, -25, 7]), -1),
          "int32")
    check(mx.round(ints, 2), np.array([14, 15, 25, -25, 7]), "int32")
    assert mx.round(2.5).item() == 2.0
    with pytest.raises(TypeError):
        mx.round(mx.array([1.5]), 1.5)


def test_where():
    c = np.array([[True, False, True]])
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = np.float32(-1)
    got = mx.where(mx.array(c), mx.array(x), mx.array(y))
    np.testing.assert_array_equal(np.array(got), np.where(c, x, y))
    assert got.shape == (2, 3)
    h = mx.array([1.0, 2.0], dtype=mx.float16)
    assert mx.where(mx.array([True, False]), h, 0.0).dtype == mx.float16
    assert mx.where(mx.array([True, False]), 1, 2.5).dtype == mx.float32
    r = mx.where([1, 0], mx.array([1, 2], dtype=mx.int64), 7)
    assert r.dtype == mx.int64 and r.tolist() == [1, 7]
    assert mx.where(True, 1.0, 2.0).item() == 1.0
    with pytest.raises(ValueError):
        mx.where(mx.array([True, False, True]), mx.array([1, 2]), 0)
    with pytest.raises(TypeError):
        mx.where(mx.array([True]), 1)


def test_clip():
    x = np.array([-3.0, -1.0, 0.5, 2.0, 9.0], np.float32)
    np.testing.assert_array_equal(np.array(mx.clip(mx.array(x), -1, 2)),
                                  np.clip(x, -1, 2))
    np.testing.assert_array_equal(np.array(mx.clip(mx.array(x), None, 0)),
                                  np.clip(x, None, 0))
    np.testing.assert_array_equal(
        np.array(mx.clip(mx.array(x), a_min=0.5, a_max=None)),
        np.clip(x, 0.5, None))
    lo = np.array([[0.0], [1.0]], np.float32)
    got = mx.clip(mx.array(x), mx.array(lo), 4.0)
    np.testing.assert_array_equal(np.array(got), np.clip(x, lo, 4.0))
    assert mx.clip(mx.array([1.0], dtype=mx.float16), 0.0, 0.5).dtype \
        == mx.float16
    assert mx.clip(mx.array([1, 5, 9]), 2, 6).tolist() == [2, 5, 6]
    assert mx.clip(mx.array([1, 5, 9]), 2, 6).dtype == mx.int32
    with pytest.raises(ValueError):
        mx.clip(mx.array(x), None, None)
    with pytest.raises(TypeError):
        mx.clip(mx.array(x), 0)


def test_degrees_radians():
    v = np.array([0.0, 0.5, -3.0, np.pi])
    for dt in ("float16", "float32", "float64"):
        check(mx.degrees(mk(v, dt)), np.degrees(to_np(mk(v, dt))
                                               .astype(np.float64)), dt)
        check(mx.radians(mk(v * 60, dt)),
              np.radians(to_np(mk(v * 60, dt)).astype(np.float64)), dt)
    check(mx.degrees(mx.array([1, 2])), np.degrees([1.0, 2.0]), "float32")
    check(mx.radians(mx.array([180])), np.array([np.pi]), "float32")


def test_divmod():
    a = np.array([7, -7, 7, -7, 0], np.int32)
    b = np.array([3, 3, -3, -3, 5], np.int32)
    q, r = mx.divmod(mx.array(a), mx.array(b))
    np.testing.assert_array_equal(np.array(q), a // b)
    np.testing.assert_array_equal(np.array(r), a % b)
    qf, rf = mx.divmod(mx.array([7.5, -7.5]), 2)
    np.testing.assert_allclose(np.array(qf), [3.0, -4.0])
    np.testing.assert_allclose(np.array(rf), [1.5, 0.5])
    assert isinstance(mx.divmod(5, 2), tuple)


def test_nan_to_num():
    nan, inf = float("nan"), float("inf")
    x = [nan, inf, -inf, 1.5]
    got = mx.nan_to_num(mx.array(x))
    np.testing.assert_array_equal(np.array(got),
                                  np.nan_to_num(np.array(x, np.float32)))
    got = mx.nan_to_num(mx.array(x), 7.0, posinf=100.0, neginf=-5)
    np.testing.assert_array_equal(np.array(got), [7.0, 100.0, -5.0, 1.5])
    h = mx.nan_to_num(mx.array(x, dtype=mx.float16))
    assert h.dtype == mx.float16
    assert to_np(h).tolist() == [0.0, 65504.0, -65504.0, 1.5]
    d = mx.nan_to_num(mx.array(x, dtype=mx.float64))
    assert to_np(d)[1] == np.finfo(np.float64).max
    i = mx.nan_to_num(mx.array([1, 2]))
    assert i.dtype == mx.int32 and i.tolist() == [1, 2]
    with pytest.raises(TypeError):
        mx.nan_to_num(mx.array(x), posinf="big")


# ---------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------

REDUCE = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "min": np.min,
          "max": np.max, "all": np.all, "any": np.any}


def reduce_dtype(name, dt):
    """MLX's result dtypes."""
    if name in ("all", "any"):
        return "bool"
    if name in ("mean", "logsumexp", "var", "std"):
        return to_float(dt)
    if name in ("sum", "prod"):
        if dt in ("bool", "int32"):
            return "int32"
        if dt == "uint8":
            return "uint32"
    return dt


AXES = [None, 0, 1, -1, -3, (0, 2), (2, 0), (), [1, 2], (0, 1, 2)]


def _np_reduce(name, x, axis, keepdims):
    if isinstance(axis, list):
        axis = tuple(axis)
    if name == "logsumexp":
        m = np.max(x, axis=axis, keepdims=True)
        r = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
        return r if keepdims else np.squeeze(r, axis=axis)
    return REDUCE[name](x, axis=axis, keepdims=keepdims)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("name", sorted(REDUCE) + ["logsumexp"])
def test_reductions(name, dt):
    rng = np.random.default_rng(1)
    v = rng.integers(-3, 4, size=(2, 3, 4))
    if dt == "uint8":
        v = np.abs(v)
    elif dt == "bool":
        v = v > 0
    elif dt in FLOATS:
        v = v * 0.5
    if name == "prod" and dt in FLOATS:
        v = np.where(v == 0, 1.0, v)
    x = mk(v, dt)
    xv = to_np(x)
    rdt = reduce_dtype(name, dt)
    for axis in AXES:
        for keepdims in (False, True):
            y = getattr(mx, name)(x, axis, keepdims)
            wide = xv.astype(np.float64) if rdt in FLOATS else xv
            if name in ("sum", "prod") and rdt not in FLOATS:
                wide = xv.astype(np.int64)
            want = _np_reduce(name, wide, axis, keepdims)
            check(y, np.asarray(want), rdt)


def test_reduction_keywords_and_scalars():
    x = mx.array([[1.0, 2.0], [3.0, 4.0]])
    assert mx.sum(x, axis=0, keepdims=True).tolist() == [[4.0, 6.0]]
    assert mx.sum(x, keepdims=True).shape == (1, 1)
    assert mx.max(x, axis=[0, 1]).item() == 4.0
    assert mx.mean(x, stream=None).item() == 2.5
    assert mx.sum([1, 2, 3]).item() == 6
    assert mx.sum(np.array([1.5, 2.5])).item() == 4.0
    assert mx.sum(5).item() == 5
    h = mx.array(np.full(4096, 60000.0, np.float16))
    assert mx.mean(h).dtype == mx.float16
    assert to_np(mx.mean(h)).item() == 60000.0  # no float16 overflow


def test_reductions_of_empty_axes():
    z = mx.array(np.zeros((0, 3), np.float32))
    assert mx.sum(z).item() == 0.0
    assert mx.sum(z, axis=0).tolist() == [0.0, 0.0, 0.0]
    assert mx.sum(z, axis=1).shape == (0,)
    assert mx.prod(z, axis=0).tolist() == [1.0, 1.0, 1.0]
    assert mx.all(z).item() is True and mx.any(z).item() is False
    assert math.isnan(mx.mean(z).item())
    with pytest.raises(ValueError):  # max has no identity (MLX too)
        mx.logsumexp(z, axis=0)
    assert mx.max(z, axis=1).shape == (0,)


def test_var_std():
    rng = np.random.default_rng(2)
    v = rng.standard_normal((3, 4, 5)).astype(np.float32)
    x = mx.array(v)
    for axis in (None, 0, -1, (0, 2)):
        for ddof in (0, 1):
            for keepdims in (False, True):
                np.testing.assert_allclose(
                    np.array(mx.var(x, axis, keepdims, ddof)),
                    np.var(v.astype(np.float64), axis=axis, ddof=ddof,
                           keepdims=keepdims), rtol=1e-5, atol=1e-6)
                np.testing.assert_allclose(
                    np.array(mx.std(x, axis=axis, keepdims=keepdims,
                                    ddof=ddof)),
                    np.std(v.astype(np.float64), axis=axis, ddof=ddof,
                           keepdims=keepdims), rtol=1e-5, atol=1e-6)
    assert mx.var(mx.array([1, 2, 3, 4])).dtype == mx.float32
    assert mx.std(mx.array([1.0], dtype=mx.float16)).dtype == mx.float16
    assert mx.var(mx.array([1.0, 2.0]), ddof=2).item() == math.inf
    assert math.isnan(mx.var(mx.array(np.zeros(0, np.float32))).item())


def test_argmin_argmax():
    rng = np.random.default_rng(3)
    v = rng.integers(0, 5, size=(3, 4, 2)).astype(np.float32)
    for dt in ("int32", "float16", "bfloat16", "float32", "uint8"):
        x = mk(v, dt)
        for name in ("argmin", "argmax"):
            f, nf = getattr(mx, name), getattr(np, name)
            y = f(x)
            assert y.dtype == mx.uint32 and y.shape == ()
            assert y.item() == nf(v)
            for axis in (0, 1, -1):
                for keepdims in (False, True):
                    got = f(x, axis, keepdims=keepdims)
                    assert got.dtype == mx.uint32
                    np.testing.assert_array_equal(
                        np.array(got), nf(v, axis=axis, keepdims=keepdims))
            k = f(x, keepdims=True)
            assert k.shape == (1, 1, 1) and k.item() == nf(v)
    nan = float("nan")
    assert mx.argmax(mx.array([1.0, nan, 3.0])).item() == 1
    assert mx.argmin(mx.array([1.0, nan, -3.0])).item() == 1
    assert mx.argmax(mx.array([True, False, True])).item() == 0
    with pytest.raises(TypeError):
        mx.argmax(mx.array([1.0, 2.0]), axis=(0,))


def test_softmax():
    rng = np.random.default_rng(4)
    v = (rng.standard_normal((2, 3, 4)) * 5).astype(np.float32)

    def np_softmax(x, axis):
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        return e / np.sum(e, axis=axis, keepdims=True)

    x = mx.array(v)
    for axis in (None, -1, 0, (0, 2)):
        for precise in (False, True):
            got = mx.softmax(x, axis, precise=precise)
            np.testing.assert_allclose(np.array(got),
                                       np_softmax(v.astype(np.float64),
                                                  axis),
                                       rtol=1e-5, atol=1e-7)
    h = mx.softmax(mx.array(v, dtype=mx.float16), axis=-1)
    assert h.dtype == mx.float16
    np.testing.assert_allclose(to_np(h), np_softmax(v, -1), atol=2e-3)
    assert mx.softmax(mx.array([1, 2])).dtype == mx.float32
    big = mx.softmax(mx.array([1000.0, 1000.0]))
    assert big.tolist() == [0.5, 0.5]
    with pytest.raises(TypeError):
        mx.softmax(x, -1, True)  # precise is keyword-only


def test_reduction_axis_errors():
    x = mx.array(np.zeros((2, 3), np.float32))
    for f in (mx.sum, mx.prod, mx.mean, mx.max, mx.all, mx.logsumexp,
              mx.var, mx.std, mx.softmax):
        with pytest.raises(IndexError):  # MLX: std::out_of_range
            f(x, axis=2)
        with pytest.raises(IndexError):
            f(x, axis=-3)
        with pytest.raises(ValueError):
            f(x, axis=(0, 0))
        with pytest.raises(ValueError):
            f(x, axis=(1, -1))
        with pytest.raises(TypeError):
            f(x, axis=1.0)
        with pytest.raises(TypeError):
            f(x, axis="0")
        with pytest.raises(TypeError):
            f(x, axis=True)
        with pytest.raises(ValueError):
            f(x, axis=tuple(range(17)))
    with pytest.raises(IndexError):
        mx.argmax(x, axis=2)
    with pytest.raises(IndexError):
        mx.argmin(x, axis=-3)
    with pytest.raises(ValueError):
        mx.argmax(mx.array(np.zeros((0,), np.float32)))
    with pytest.raises(ValueError):
        mx.max(mx.array(np.zeros((0,), np.float32)))
    with pytest.raises(OverflowError):
        mx.sum(x, axis=2**70)
    with pytest.raises(TypeError):
        mx.sum(x, 0, False, True)  # stream is keyword-only
    with pytest.raises(TypeError):
        mx.var(x, ddof=0.5)


# ---------------------------------------------------------------------------
# scans
# ---------------------------------------------------------------------------

def _np_scan(name, x, axis, reverse, inclusive):
    fn = {"cumsum": np.cumsum, "cumprod": np.cumprod,
          "cummax": np.maximum.accumulate,
          "cummin": np.minimum.accumulate}[name]
    if axis is None:
        x, axis = x.reshape(-1), 0
    if reverse:
        x = np.flip(x, axis)
    r = fn(x, axis=axis)
    if not inclusive:
        ident = {"cumsum": 0, "cumprod": 1}.get(name)
        n = x.shape[axis]
        if ident is None:  # cummax/cummin: MLX fills with the identity
            ident = {"cummax": -np.inf, "cummin": np.inf}[name]
        pad = np.full_like(np.take(r, [0], axis=axis), ident, dtype=r.dtype
                           if np.issubdtype(r.dtype, np.floating)
                           else np.float64)
        r = np.concatenate([pad.astype(r.dtype, copy=False)
                            if np.issubdtype(r.dtype, np.floating) else pad,
                            np.take(r, range(n - 1), axis=axis)], axis=axis)
    if reverse:
        r = np.flip(r, axis)
    return r


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "cummax", "cummin"])
def test_scans(name):
    rng = np.random.default_rng(5)
    v = rng.integers(-3, 4, size=(2, 3, 4)).astype(np.float32)
    if name == "cumprod":
        v = np.where(v == 0, 1.0, v) * 0.75
    x = mx.array(v)
    f = getattr(mx, name)
    for axis in (None, 0, 1, -1):
        for reverse in (False, True):
            for inclusive in (True, False):
                if not inclusive and name in ("cummax", "cummin"):
                    continue
                got = f(x, axis, reverse=reverse, inclusive=inclusive)
                want = _np_scan(name, v.astype(np.float64), axis, reverse,
                                inclusive)
                assert got.shape == want.shape
                np.testing.assert_allclose(np.array(got), want, rtol=1e-5)


def test_scan_dtypes_and_errors():
    b = mx.cumsum(mx.array([True, True, False, True]))
    assert b.dtype == mx.int32 and b.tolist() == [1, 2, 2, 3]
    u = mx.cumsum(mx.array([200, 100], dtype=mx.uint8))  # MLX keeps it
    assert u.dtype == mx.uint8 and u.tolist() == [200, 44]
    h = mx.cumsum(mx.array([1.0, 2.0], dtype=mx.float16))
    assert h.dtype == mx.float16
    assert mx.cummax(mx.array([1, 3, 2], dtype=mx.int64)).dtype == mx.int64
    assert mx.cumsum([[1, 2], [3, 4]]).tolist() == [1, 3, 6, 10]
    assert mx.cumsum(mx.array(np.zeros((0, 2), np.float32)), 0).shape \
        == (0, 2)
    for f in (mx.cumsum, mx.cumprod, mx.cummax, mx.cummin):
        with pytest.raises(IndexError):  # as MLX 0.32
            f(mx.array([1, 2]), axis=1)
        with pytest.raises(IndexError):
            f(mx.array([1, 2]), axis=-2)
        with pytest.raises(IndexError):
            f(mx.array(3), axis=0)
        assert f(mx.array(3)).tolist() == [3]
    with pytest.raises(TypeError):
        mx.cumsum(mx.array([1, 2]), axis=(0,))
    with pytest.raises(TypeError):
        mx.cumsum(mx.array([1, 2]), 0, True)  # reverse is keyword-only


# ---------------------------------------------------------------------------
# linear algebra
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((2, 3), (3,)),
                                   ((3,), (3, 4)), ((2, 3), (3, 4)),
                                   ((5, 2, 3), (3, 4)), ((1, 2, 3),
                                                         (4, 3, 2)),
                                   ((2, 0), (0, 3)), ((0, 3), (3, 2)),
                                   ((2, 1, 2, 3), (3, 3, 1))])
def test_matmul_shapes(sa, sb):
    rng = np.random.default_rng(6)
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    got = mx.matmul(mx.array(a), mx.array(b))
    want = np.matmul(a, b)
    assert got.shape == want.shape and got.dtype == mx.float32
    np.testing.assert_allclose(np.array(got), want, rtol=1e-5, atol=1e-5)


def test_matmul_dtypes_and_views():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((4, 3))
    b = rng.standard_normal((3, 5))
    for dt in ("float16", "bfloat16", "float32", "float64"):
        ka, kb = mk(a, dt), mk(b, dt)
        got = mx.matmul(ka, kb)
        want = to_np(ka).astype(np.float64) @ to_np(kb).astype(np.float64)
        rtol, atol = TOL[dt]
        assert NAME[got.dtype] == dt
        np.testing.assert_allclose(to_np(got).astype(np.float64), want,
                                   rtol=2 * rtol, atol=4 * atol)
    mixed = mx.matmul(mk(a, "float16"), mk(b, "float32"))
    assert mixed.dtype == mx.float32
    n = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_allclose(np.array(mx.matmul(n.T, n)), n.T @ n)
    if hasattr(mx, "transpose"):
        x = mx.array(n)
        np.testing.assert_allclose(np.array(mx.matmul(mx.transpose(x), x)),
                                   n.T @ n)
    assert mx.matmul([[1, 2]], [[3], [4]]).tolist() == [[11]]


def test_matmul_errors():
    with pytest.raises(ValueError):
        mx.matmul(mx.array(np.zeros((2, 3), np.float32)),
                  mx.array(np.zeros((4, 2), np.float32)))
    with pytest.raises(ValueError):
        mx.matmul(mx.array(1.0), mx.array([1.0]))
    with pytest.raises(ValueError):
        mx.matmul(mx.array(np.zeros((2, 2, 3), np.float32)),
                  mx.array(np.zeros((3, 3, 2), np.float32)))
    with pytest.raises(TypeError):
        mx.matmul(mx.array([1.0]))
    with pytest.raises(TypeError):
        mx.matmul(mx.array([1.0]), "x")


def test_addmm():
    rng = np.random.default_rng(8)
    a = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal((3, 4)).astype(np.float32)
    c = rng.standard_normal((4,)).astype(np.float32)
    np.testing.assert_allclose(np.array(mx.addmm(c, a, b)), a @ b + c,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.array(mx.addmm(mx.array(c), mx.array(a), mx.array(b), 0.5,
                          beta=-2.0)),
        0.5 * (a @ b) - 2.0 * c, rtol=1e-5, atol=1e-6)
    nan_c = np.full((2, 4), np.nan, np.float32)
    np.testing.assert_allclose(np.array(mx.addmm(nan_c, a, b, beta=0.0)),
                               a @ b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        mx.addmm(np.zeros((3, 3), np.float32), a, b)
    with pytest.raises(TypeError):
        mx.addmm(c, a, b, alpha="2")


def test_inner_outer():
    rng = np.random.default_rng(9)
    a = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(np.array(mx.inner(a, b)), np.inner(a, b),
                               rtol=1e-5, atol=1e-6)
    v = np.array([1.0, 2.0, 3.0], np.float32)
    assert mx.inner(v, v).item() == 14.0
    np.testing.assert_allclose(np.array(mx.outer(a, v)), np.outer(a, v))
    assert mx.outer(mx.array([1, 2]), mx.array([3, 4, 5])).shape == (2, 3)
    with pytest.raises(ValueError):
        mx.inner(a, a.T)


# ---------------------------------------------------------------------------
# whole-array comparisons
# ---------------------------------------------------------------------------

def test_array_equal():
    a = mx.array([1, 2, 3])
    r = mx.array_equal(a, mx.array([1.0, 2.0, 3.0]))
    assert isinstance(r, mx.array) and r.dtype == mx.bool_ and r.shape == ()
    assert r.item() is True
    assert mx.array_equal(a, [1, 2, 4]).item() is False
    assert mx.array_equal(a, mx.array([[1, 2, 3]])).item() is False
    nan = float("nan")
    n = mx.array([1.0, nan])
    assert mx.array_equal(n, n).item() is False
    assert mx.array_equal(n, n, equal_nan=True).item() is True
    assert mx.array_equal(2, 2).item() is True
    with pytest.raises(TypeError):
        mx.array_equal(n, n, True)  # equal_nan is keyword-only


def test_isclose_allclose():
    nan, inf = float("nan"), float("inf")
    a = np.array([1.0, 1.0, 1.0, nan, inf, -inf, inf, 0.0], np.float32)
    b = np.array([1.0 + 1e-6, 1.1, 1.0 + 2e-5, nan, inf, inf, 1e30, 1e-9],
                 np.float32)
    got = mx.isclose(mx.array(a), mx.array(b))
    assert got.dtype == mx.bool_
    np.testing.assert_array_equal(np.array(got), np.isclose(a, b))
    np.testing.assert_array_equal(
        np.array(mx.isclose(a, b, 1e-1, 0.0, equal_nan=True)),
        np.isclose(a, b, rtol=1e-1, atol=0.0, equal_nan=True))
    np.testing.assert_array_equal(
        np.array(mx.isclose(a, b, rtol=0.0, atol=1e-3)),
        np.isclose(a, b, rtol=0.0, atol=1e-3))
    # broadcasting, unlike array_equal
    assert mx.isclose(mx.array([[1.0], [2.0]]), mx.array([1.0, 2.0])).shape \
        == (2, 2)
    x = mx.array([1.0, 2.0])
    assert mx.allclose(x, mx.add(x, 1e-7)).item() is True
    assert mx.allclose(x, mx.add(x, 1e-3)).item() is False
    assert mx.allclose(x, mx.add(x, 1e-3), atol=1e-2).item() is True
    assert mx.allclose(mx.array([nan]), mx.array([nan])).item() is False
    assert mx.allclose(mx.array([nan]), mx.array([nan]),
                       equal_nan=True).item() is True
    r = mx.allclose(x, x)
    assert r.shape == () and r.dtype == mx.bool_
    with pytest.raises(TypeError):
        mx.isclose(x, x, 1e-5, 1e-8, True)  # equal_nan is keyword-only
    with pytest.raises(ValueError):
        mx.allclose(mx.array([1.0, 2.0]), mx.array([1.0, 2.0, 3.0]))
