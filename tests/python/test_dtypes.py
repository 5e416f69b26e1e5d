"""Dtype objects, finfo/iinfo, DtypeCategory and issubdtype, as mlx.core
has them, with numpy as the oracle."""
import enum
import pickle

import numpy as np
import pytest

import kiln as mx

FLOATS = [(mx.float16, np.float16), (mx.float32, np.float32),
          (mx.float64, np.float64)]
INTS = [(mx.uint8, np.uint8), (mx.uint16, np.uint16), (mx.uint32, np.uint32),
        (mx.uint64, np.uint64), (mx.int8, np.int8), (mx.int16, np.int16),
        (mx.int32, np.int32), (mx.int64, np.int64)]
ALL = [mx.bool_] + [d for d, _ in INTS] + [mx.bfloat16] + \
      [d for d, _ in FLOATS]
CATEGORIES = ["complexfloating", "floating", "inexact", "signedinteger",
              "unsignedinteger", "integer", "number", "generic"]


def test_dtype_objects():
    assert len(set(ALL)) == 13
    for d in ALL:
        assert isinstance(d, mx.Dtype)
        assert repr(d) in ("kiln." + n for n in
                           ["bool", "bfloat16"] + [str(np.dtype(x))
                                                   for _, x in INTS + FLOATS])
        assert hash(d) == hash(d)
        assert mx.zeros((1,), d).dtype == d
    for d, n in INTS + FLOATS:
        assert d.size == np.dtype(n).itemsize
    assert mx.bool_.size == 1 and mx.bfloat16.size == 2
    assert mx.float32 == mx.float32 and mx.float32 != mx.float16
    assert mx.float32 != "float32"
    assert not hasattr(mx, "bool")  # MLX spells it bool_
    assert pickle.loads(pickle.dumps(mx.int16)) is mx.int16


@pytest.mark.parametrize("d,n", FLOATS)
def test_finfo_matches_numpy(d, n):
    f = mx.finfo(d)
    i = np.finfo(n)
    assert f.dtype == d
    assert f.max == float(i.max) and f.min == float(i.min)
    assert f.eps == float(i.eps)
    assert f.smallest_normal == float(i.smallest_normal)
    assert f.bits == i.bits
    assert isinstance(f.max, float) and isinstance(f.eps, float)
    assert repr(f).startswith("finfo(min=") and str(d)[5:] in repr(f)


def test_finfo_bfloat16():
    f = mx.finfo(mx.bfloat16)
    assert f.dtype == mx.bfloat16
    assert f.max == 3.3895313892515355e38 and f.min == -f.max
    assert f.eps == 2.0 ** -7
    assert f.bits == 16 and f.smallest_normal == 2.0 ** -126
    # the largest bfloat16 is a float32 with the low 16 mantissa bits clear
    bits = np.array([f.max], np.float32).view(np.uint32)[0]
    assert bits == 0x7F7F0000


def test_finfo_is_read_only_and_checked():
    f = mx.finfo(mx.float32)
    with pytest.raises(AttributeError):
        f.max = 1.0
    for d in [mx.int32, mx.uint8, mx.bool_]:
        with pytest.raises(ValueError):
            mx.finfo(d)
    with pytest.raises(TypeError):
        mx.finfo("float32")
    with pytest.raises(TypeError):
        mx.finfo(np.float32)
    with pytest.raises(TypeError):
        mx.finfo()


@pytest.mark.parametrize("d,n", INTS)
def test_iinfo_matches_numpy(d, n):
    i = mx.iinfo(d)
    w = np.iinfo(n)
    assert i.dtype == d
    assert i.min == int(w.min) and i.max == int(w.max)
    assert isinstance(i.min, int) and isinstance(i.max, int)
    assert repr(i) == "iinfo(min=%d, max=%d, dtype=%s)" % (
        w.min, w.max, str(np.dtype(n)))
    # the limits round-trip through arrays of that dtype
    assert mx.array(i.min, dtype=d).item() == i.min
    assert mx.array(i.max, dtype=d).item() == i.max


def test_iinfo_is_checked():
    for d in [mx.float32, mx.bfloat16, mx.bool_]:
        with pytest.raises(ValueError):
            mx.iinfo(d)
    with pytest.raises(TypeError):
        mx.iinfo(int)
    with pytest.raises(AttributeError):
        mx.iinfo(mx.int8).min = 0


def test_categories_are_an_enum_exported_at_module_level():
    assert issubclass(mx.DtypeCategory, enum.Enum)
    assert [c.name for c in mx.DtypeCategory] == CATEGORIES
    for name in CATEGORIES:
        c = getattr(mx, name)
        assert c is mx.DtypeCategory[name]
        assert isinstance(c, mx.DtypeCategory)
        assert not isinstance(c, mx.Dtype)
    assert repr(mx.floating).startswith("<DtypeCategory.floating")
    assert isinstance(mx.bool_, mx.Dtype)


# numpy's generic types for each kiln category
NP_CATEGORY = {
    "complexfloating": np.complexfloating, "floating": np.floating,
    "inexact": np.inexact, "signedinteger": np.signedinteger,
    "unsignedinteger": np.unsignedinteger, "integer": np.integer,
    "number": np.number, "generic": np.generic,
}


@pytest.mark.parametrize("d,n", [(mx.bool_, np.bool_)] + INTS + FLOATS)
def test_issubdtype_dtype_in_category_matches_numpy(d, n):
    for name, npcat in NP_CATEGORY.items():
        assert mx.issubdtype(d, getattr(mx, name)) == \
            np.issubdtype(n, npcat), (d, name)


def test_issubdtype_bfloat16_is_floating():
    assert mx.issubdtype(mx.bfloat16, mx.floating)
    assert mx.issubdtype(mx.bfloat16, mx.inexact)
    assert mx.issubdtype(mx.bfloat16, mx.number)
    assert not mx.issubdtype(mx.bfloat16, mx.integer)
    assert not mx.issubdtype(mx.bfloat16, mx.complexfloating)


def test_issubdtype_between_categories_matches_numpy():
    for a in CATEGORIES:
        for b in CATEGORIES:
            assert mx.issubdtype(getattr(mx, a), getattr(mx, b)) == \
                np.issubdtype(NP_CATEGORY[a], NP_CATEGORY[b]), (a, b)


def test_issubdtype_between_dtypes_and_errors():
    for a in ALL:
        for b in ALL:
            assert mx.issubdtype(a, b) == (a is b)
        assert not mx.issubdtype(mx.floating, a)
    assert mx.issubdtype(mx.array([1, 2]).dtype, mx.integer)
    assert not mx.issubdtype(mx.float64, mx.float32)
    assert mx.issubdtype(mx.float32, mx.inexact)
    assert not mx.issubdtype(mx.signedinteger, mx.floating)
    with pytest.raises(ValueError):
        mx.issubdtype("float32", mx.floating)
    with pytest.raises(ValueError):
        mx.issubdtype(mx.float32, np.floating)
    with pytest.raises(TypeError):
        mx.issubdtype(mx.float32)
    with pytest.raises(TypeError):
        mx.issubdtype(arg1=mx.float32, arg2=mx.floating)


def test_category_checks_used_in_practice():
    """What MLX code writes: pick a dtype's limits by its category."""
    def largest(d):
        if mx.issubdtype(d, mx.floating):
            return mx.finfo(d).max
        if mx.issubdtype(d, mx.integer):
            return mx.iinfo(d).max
        return True
    assert largest(mx.float16) == 65504.0
    assert largest(mx.uint8) == 255
    assert largest(mx.bool_) is True
