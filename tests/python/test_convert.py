"""Construction of kiln arrays from Python values and conversion back,
with numpy as the oracle."""
import numpy as np
import pytest

import kiln as mx


@pytest.mark.parametrize("val,dtype", [
    (True, mx.bool_), (3, mx.int32), (2**40, mx.int64), (2.5, mx.float32),
    ([1, 2], mx.int32), ([1, 2.0], mx.float32), ([True, False], mx.bool_),
    ([[1, 2], [3, 4]], mx.int32), ([], mx.float32),
])
def test_infers_dtype_as_mlx(val, dtype):
    a = mx.array(val)
    assert a.dtype == dtype
    assert a.tolist() == val


def test_numpy_round_trip_keeps_dtype_and_strides():
    for dt in [np.bool_, np.uint8, np.int16, np.int32, np.int64, np.uint64,
               np.float16, np.float32]:
        n = (np.arange(24).reshape(2, 3, 4) % 5).astype(dt)
        v = n[:, ::-1, 1::2]
        a = mx.array(v)
        assert np.array(a).dtype == dt
        np.testing.assert_array_equal(np.array(a), v)


def test_float64_numpy_becomes_float32_unless_asked():
    n = np.linspace(0, 1, 7)
    assert mx.array(n).dtype == mx.float32
    assert mx.array(n, dtype=mx.float64).dtype == mx.float64
    np.testing.assert_array_equal(np.array(mx.array(n, mx.float64)), n)


def test_item_and_properties():
    a = mx.array([[1.5, 2.0, 3.0]])
    assert a.shape == (1, 3) and a.ndim == 2 and a.size == 3
    assert a.itemsize == 4 and a.nbytes == 12
    assert mx.array(7).item() == 7 and isinstance(mx.array(7).item(), int)
    with pytest.raises(ValueError):
        a.item()


def test_bad_input_raises():
    with pytest.raises(ValueError):
        mx.array([[1, 2], [3]])
    with pytest.raises(ValueError):
        mx.array([[1, 2], 3])
    with pytest.raises(TypeError):
        mx.array(object())
    with pytest.raises(TypeError):
        mx.array(1 + 2j)
    with pytest.raises(OverflowError):
        mx.array(2**70)
    with pytest.raises(TypeError):
        mx.array(1, dtype="float32")


def test_buffer_is_read_only_and_bfloat16_refuses():
    a = mx.array([1, 2, 3])
    m = memoryview(a)
    assert m.readonly and m.tolist() == [1, 2, 3]
    with pytest.raises(TypeError):
        memoryview(mx.array([1.0], dtype=mx.bfloat16))


def test_more_sources():
    class HasArray:
        def __array__(self, dtype=None, copy=None):
            return np.array([1, 2, 3], np.int16)

    a = mx.array(HasArray())
    assert a.dtype == mx.int16 and a.tolist() == [1, 2, 3]
    b = mx.array([mx.array([1, 2]), mx.array([3, 4])])
    assert b.shape == (2, 2) and b.tolist() == [[1, 2], [3, 4]]
    c = mx.array(mx.array([1, 2]), dtype=mx.float32)
    assert c.dtype == mx.float32 and c.tolist() == [1.0, 2.0]
    assert mx.array(2**63).dtype == mx.uint64
    big = np.array([2**64 - 1], np.uint64)
    assert mx.array(big).tolist() == [2**64 - 1]


def test_read_back_types():
    assert mx.array(0.1, dtype=mx.float16).item() == float(np.float16(0.1))
    assert mx.array([1, 2], dtype=mx.bfloat16).tolist() == [1.0, 2.0]
    assert isinstance(mx.array([True]).tolist()[0], bool)
    assert isinstance(mx.array([1], dtype=mx.uint8).item(), int)
    assert isinstance(mx.array([1.0], dtype=mx.float64).item(), float)
    assert mx.array(np.zeros((2, 0, 3))).tolist() == [[], []]


def test_numpy_sees_values_after_assignment():
    a = mx.array([1.0, 2.0, 3.0])
    a[1] = 7
    np.testing.assert_array_equal(np.array(a), [1.0, 7.0, 3.0])
    np.testing.assert_array_equal(np.asarray(a[::-1]), [3.0, 7.0, 1.0])


def test_list_of_ints_above_int64_reads_as_uint64():
    a = mx.array([2**63 + 5, 1], dtype=mx.uint64)
    assert a.dtype == mx.uint64 and a.tolist() == [2**63 + 5, 1]
    assert mx.array([2**64 - 1]).dtype == mx.uint64
    with pytest.raises(OverflowError):
        mx.array([2**63, -1])


def test_numpy_of_a_placeholder_raises_and_bfloat16_converts():
    def f(x):
        np.array(x)
        return x
    with pytest.raises(ValueError, match="disable_compile"):
        mx.compile(f)(mx.array([1.0, 2.0]))
    b = np.array(mx.array([1.5, -2.0], dtype=mx.bfloat16))
    assert b.dtype == np.float32 and b.tolist() == [1.5, -2.0]
