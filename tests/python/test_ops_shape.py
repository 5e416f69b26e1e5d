"""Creation, shape, movement, joining, padding, indexing and sorting
functions of kiln (mlx.core's signatures), with numpy as the oracle."""
import numpy as np
import pytest

import kiln as mx

# (kiln dtype, numpy dtype) pairs that numpy can hold (no bfloat16).
DTYPES = [
    (mx.bool_, np.bool_), (mx.uint8, np.uint8), (mx.uint16, np.uint16),
    (mx.uint32, np.uint32), (mx.uint64, np.uint64), (mx.int8, np.int8),
    (mx.int16, np.int16), (mx.int32, np.int32), (mx.int64, np.int64),
    (mx.float16, np.float16), (mx.float32, np.float32),
    (mx.float64, np.float64),
]
NP_OF = {k: n for k, n in DTYPES}


def sample(shape, ndt=np.float32, seed=0):
    """Distinct-ish values of a numpy dtype (bool alternates)."""
    n = int(np.prod(shape))
    v = (np.arange(n) * 7 + seed) % 11
    if ndt == np.bool_:
        return (v % 2 == 0).reshape(shape)
    return v.astype(ndt).reshape(shape)


def same(got, want, dtype=None):
    """got is a kiln.array equal to numpy's want, of the same shape (and
    of `dtype` when given)."""
    assert isinstance(got, mx.array)
    g = np.array(got)
    want = np.asarray(want)
    assert g.shape == want.shape, (g.shape, want.shape)
    np.testing.assert_array_equal(g, want)
    if dtype is not None:
        assert got.dtype == dtype


def strided(shape, ndt=np.float32):
    """A non-contiguous numpy view of `shape` (steps and a reversal)."""
    big = sample(tuple(2 * s + 1 for s in shape), ndt)
    idx = tuple(slice(-2, None, -2) if i == 0 else slice(1, None, 2)
                for i in range(len(shape)))
    v = big[idx]
    assert v.shape == tuple(shape) and not v.flags.c_contiguous or v.size < 2
    return v


# ------------------------------------------------------------------ #
# creation                                                           #
# ------------------------------------------------------------------ #

@pytest.mark.parametrize("shape", [(), 0, 3, (2, 3), (2, 0, 4), [1, 1, 1]])
@pytest.mark.parametrize("mdt,ndt", DTYPES)
def test_zeros_ones(shape, mdt, ndt):
    same(mx.zeros(shape, mdt), np.zeros(shape, ndt), mdt)
    same(mx.ones(shape, dtype=mdt), np.ones(shape, ndt), mdt)


def test_zeros_ones_default_dtype_and_errors():
    assert mx.zeros((2,)).dtype == mx.float32
    assert mx.ones(2, None).dtype == mx.float32
    assert mx.zeros(3, stream=None).shape == (3,)
    assert mx.zeros((2,), mx.bfloat16).dtype == mx.bfloat16
    with pytest.raises(ValueError):
        mx.zeros((2, -1))
    with pytest.raises(TypeError):
        mx.zeros((2, 1.5))
    with pytest.raises(TypeError):
        mx.ones("3")
    with pytest.raises(TypeError):
        mx.zeros(3, "float32")
    with pytest.raises(TypeError):
        mx.zeros(3, None, None)  # stream is keyword-only


def test_full():
    same(mx.full((2, 3), 7), np.full((2, 3), 7, np.int32), mx.int32)
    same(mx.full(3, 2.5), np.full(3, 2.5, np.float32), mx.float32)
    same(mx.full((2,), True), np.full(2, True), mx.bool_)
    same(mx.full((2, 2), 2.7, mx.int32), np.full((2, 2), 2, np.int32),
         mx.int32)
    same(mx.full((2, 3), mx.array([1, 2, 3]), dtype=mx.float16),
         np.full((2, 3), [1, 2, 3], np.float16), mx.float16)
    same(mx.full((3, 2), np.array([[1], [2], [3]], np.uint8)),
         np.repeat(np.array([[1], [2], [3]], np.uint8), 2, 1), mx.uint8)
    same(mx.full((0, 2), 1.0), np.zeros((0, 2), np.float32))
    same(mx.full((), 4), np.array(4, np.int32))
    with pytest.raises(ValueError):
        mx.full((2, 2), mx.array([1, 2, 3]))


@pytest.mark.parametrize("mdt,ndt", DTYPES)
def test_zeros_like_ones_like(mdt, ndt):
    for shape in [(), (0,), (2, 3)]:
        a = mx.array(sample(shape, ndt), dtype=mdt)
        same(mx.zeros_like(a), np.zeros(shape, ndt), mdt)
        same(mx.ones_like(a), np.ones(shape, ndt), mdt)
    # numpy float64 becomes float32, as in MLX
    like = mx.float32 if mdt == mx.float64 else mdt
    same(mx.zeros_like(strided((2, 3), ndt)), np.zeros((2, 3), ndt), like)
    same(mx.ones_like(3.5), np.ones((), np.float32), mx.float32)
    with pytest.raises(TypeError):
        mx.zeros_like(a=a)  # positional-only


def test_arange_overloads_and_dtypes():
    same(mx.arange(5), np.arange(5, dtype=np.int32), mx.int32)
    same(mx.arange(2, 9, 3), np.arange(2, 9, 3, dtype=np.int32), mx.int32)
    same(mx.arange(5.0), np.arange(5, dtype=np.float32), mx.float32)
    same(mx.arange(0, 1, 0.25), np.arange(0, 1, 0.25, dtype=np.float32),
         mx.float32)
    same(mx.arange(1, 2.0), np.array([1], np.float32), mx.float32)
    same(mx.arange(10, 0, -3), np.arange(10, 0, -3, dtype=np.int32))
    same(mx.arange(5, 2), np.zeros((0,), np.int32), mx.int32)
    same(mx.arange(0), np.zeros((0,), np.int32))
    same(mx.arange(4, dtype=mx.float16), np.arange(4, dtype=np.float16),
         mx.float16)
    same(mx.arange(0, 6, 2, mx.int64), np.arange(0, 6, 2), mx.int64)
    # the one-argument overload: stop, step, dtype
    same(mx.arange(10, step=4), np.arange(0, 10, 4, dtype=np.int32))
    same(mx.arange(stop=3), np.arange(3, dtype=np.int32))
    same(mx.arange(start=1, stop=3), np.arange(1, 3, dtype=np.int32))
    same(mx.arange(np.int64(3)), np.arange(3, dtype=np.int32))
    same(mx.arange(np.float32(1.5)), np.arange(2, dtype=np.float32),
         mx.float32)
    assert mx.arange(3, stream=None).shape == (3,)


def test_arange_errors():
    with pytest.raises(ValueError):
        mx.arange(0, 4, 0)
    with pytest.raises(ValueError):
        mx.arange(0.0, float("inf"))
    with pytest.raises(ValueError):
        mx.arange(3, dtype=mx.bool_)
    with pytest.raises(TypeError):
        mx.arange("3")
    with pytest.raises(TypeError):
        mx.arange(0, 3, "1")
    with pytest.raises(TypeError):
        mx.arange()
    with pytest.raises(TypeError):
        mx.arange(mx.array(3))
    with pytest.raises(TypeError):
        mx.arange(3, dtype="int32")


def test_linspace():
    same(mx.linspace(0, 1, 5), np.linspace(0, 1, 5, dtype=np.float32),
         mx.float32)
    got = np.array(mx.linspace(-2.5, 7))
    assert got.shape == (50,)
    np.testing.assert_allclose(got, np.linspace(-2.5, 7, 50), rtol=1e-6)
    same(mx.linspace(3, 3, 1), np.array([3], np.float32))
    same(mx.linspace(0, 1, 0), np.zeros((0,), np.float32))
    same(mx.linspace(0, 10, 6, mx.int32), np.arange(0, 11, 2, np.int32),
         mx.int32)
    assert mx.linspace(0, 1, num=3, dtype=mx.float64).dtype == mx.float64
    with pytest.raises(ValueError):
        mx.linspace(0, 1, -1)
    with pytest.raises(TypeError):
        mx.linspace(0, 1, 2.5)
    with pytest.raises(TypeError):
        mx.linspace("a", 1)


@pytest.mark.parametrize("n,m,k", [(3, None, 0), (2, 4, 1), (4, 2, -1),
                                   (3, 3, 5), (0, 2, 0), (3, 0, 0)])
def test_eye_tri(n, m, k):
    same(mx.eye(n, m, k), np.eye(n, m, k, np.float32), mx.float32)
    same(mx.tri(n, m, k), np.tri(n, m, k, np.float32), mx.float32)
    same(mx.eye(n, m=m, k=k, dtype=mx.int16), np.eye(n, m, k, np.int16),
         mx.int16)
    same(mx.tri(n, m, k, dtype=mx.bool_), np.tri(n, m, k, bool), mx.bool_)


def test_identity_and_matrix_errors():
    same(mx.identity(3), np.identity(3, np.float32), mx.float32)
    same(mx.identity(2, mx.uint8), np.identity(2, np.uint8), mx.uint8)
    same(mx.identity(0), np.zeros((0, 0), np.float32))
    for f in (mx.eye, mx.identity, mx.tri):
        with pytest.raises(ValueError):
            f(-1)
        with pytest.raises(TypeError):
            f(2.0)
    with pytest.raises(ValueError):
        mx.eye(2, -3)


@pytest.mark.parametrize("mdt,ndt", DTYPES)
def test_tril_triu(mdt, ndt):
    for shape in [(3, 4), (4, 2), (2, 3, 3), (0, 3)]:
        n = sample(shape, ndt)
        a = mx.array(n, dtype=mdt)
        for k in (0, 1, -2, 7):
            same(mx.tril(a, k), np.tril(n, k), mdt)
            same(mx.triu(a, k=k), np.triu(n, k), mdt)
    v = strided((3, 5), ndt)
    same(mx.tril(v), np.tril(v))
    same(mx.triu(x=v, k=-1), np.triu(v, -1))


def test_tril_triu_errors():
    with pytest.raises(ValueError):
        mx.tril(mx.arange(3))
    with pytest.raises(ValueError):
        mx.triu(mx.array(1.0))
    with pytest.raises(TypeError):
        mx.tril(mx.ones((2, 2)), 0.5)


# ------------------------------------------------------------------ #
# shape and movement                                                 #
# ------------------------------------------------------------------ #

@pytest.mark.parametrize("mdt,ndt", DTYPES)
def test_reshape_flatten_unflatten(mdt, ndt):
    n = sample((2, 3, 4), ndt)
    a = mx.array(n, dtype=mdt)
    same(mx.reshape(a, (4, -1)), n.reshape(4, -1), mdt)
    same(mx.reshape(a, [24]), n.reshape(24), mdt)
    same(mx.reshape(a, shape=(2, 1, 12)), n.reshape(2, 1, 12), mdt)
    same(mx.flatten(a), n.reshape(-1), mdt)
    same(mx.flatten(a, 1), n.reshape(2, 12), mdt)
    same(mx.flatten(a, start_axis=0, end_axis=-2), n.reshape(6, 4), mdt)
    same(mx.unflatten(a, 2, (2, -1)), n.reshape(2, 3, 2, 2), mdt)
    same(mx.unflatten(a, -3, [1, 2]), n.reshape(1, 2, 3, 4), mdt)
    v = strided((3, 4), ndt)
    same(mx.reshape(v, (2, 6)), v.reshape(2, 6))
    same(mx.flatten(v), v.reshape(-1))
    t = mx.transpose(mx.array(v, dtype=mdt))  # a non-contiguous kiln view
    same(mx.reshape(t, (-1,)), v.T.reshape(-1), mdt)


def test_reshape_edge_cases_and_errors():
    s = mx.array(5)
    same(mx.reshape(s, (1, 1)), np.full((1, 1), 5, np.int32))
    same(mx.reshape(mx.zeros((1, 1)), ()), np.zeros((), np.float32))
    same(mx.reshape(mx.zeros((0, 3)), (3, 0, 5)), np.zeros((3, 0, 5)))
    with pytest.raises(ValueError):
        mx.reshape(mx.zeros((0, 3)), (3, 0, -1))  # as numpy and MLX
    same(mx.flatten(s), np.array([5], np.int32))
    same(mx.reshape([[1, 2], [3, 4]], (4,)), np.arange(1, 5, dtype=np.int32))
    with pytest.raises(ValueError):
        mx.reshape(mx.zeros((2, 3)), (4, 2))
    with pytest.raises(ValueError):
        mx.reshape(mx.zeros((2, 3)), (-1, -1))
    with pytest.raises(TypeError):
        mx.reshape(mx.zeros((2, 3)), (2.0, 3))
    with pytest.raises(TypeError):
        mx.reshape(mx.zeros((2, 3)), "23")
    with pytest.raises(TypeError):
        mx.reshape(a=mx.zeros(2), shape=(2,))
    with pytest.raises(ValueError):
        mx.unflatten(mx.zeros((2, 3)), 1, (2, 2))
    with pytest.raises(IndexError):
        mx.unflatten(mx.zeros((2, 3)), 4, (3,))


def test_squeeze_expand_dims():
    n = sample((1, 3, 1, 2))
    a = mx.array(n)
    same(mx.squeeze(a), n.squeeze())
    same(mx.squeeze(a, 0), n.squeeze(0))
    same(mx.squeeze(a, axis=(-2, 0)), n.squeeze((0, 2)))
    same(mx.squeeze(mx.zeros((1, 1))), np.zeros(()))
    same(mx.squeeze(mx.zeros((0, 1))), np.zeros((0,)))
    same(mx.expand_dims(a, 0), np.expand_dims(n, 0))
    same(mx.expand_dims(a, (0, -1)), np.expand_dims(n, (0, -1)))
    same(mx.expand_dims(a, axis=[1, 3]), np.expand_dims(n, (1, 3)))
    same(mx.expand_dims(mx.array(2.0), 0), np.array([2.0], np.float32))
    v = strided((3, 2))
    same(mx.expand_dims(v, 1), v[:, None])
    with pytest.raises(ValueError):
        mx.squeeze(a, 1)
    with pytest.raises(IndexError):
        mx.squeeze(a, 7)
    with pytest.raises(IndexError):
        mx.expand_dims(a, 9)
    with pytest.raises(ValueError):
        mx.expand_dims(a, (0, 0))
    with pytest.raises(TypeError):
        mx.expand_dims(a, None)
    with pytest.raises(TypeError):
        mx.squeeze(a, 0.0)


@pytest.mark.parametrize("mdt,ndt", DTYPES)
def test_transpose_swap_move(mdt, ndt):
    n = sample((2, 3, 4), ndt)
    a = mx.array(n, dtype=mdt)
    same(mx.transpose(a), n.T, mdt)
    same(mx.transpose(a, (1, 2, 0)), n.transpose(1, 2, 0), mdt)
    same(mx.transpose(a, axes=[-1, 0, 1]), n.transpose(-1, 0, 1), mdt)
    same(mx.permute_dims(a, (2, 0, 1)), n.transpose(2, 0, 1), mdt)
    same(mx.swapaxes(a, 0, -1), n.swapaxes(0, -1), mdt)
    same(mx.swapaxes(a, axis1=1, axis2=1), n, mdt)
    same(mx.moveaxis(a, 0, -1), np.moveaxis(n, 0, -1), mdt)
    same(mx.moveaxis(a, source=-1, destination=1), np.moveaxis(n, -1, 1),
         mdt)
    v = strided((3, 4, 2), ndt)
    same(mx.transpose(v, (2, 0, 1)), v.transpose(2, 0, 1))
    same(mx.swapaxes(v, 0, 2), v.swapaxes(0, 2))
    same(mx.transpose(mx.array(1, dtype=mdt)), np.array(1, ndt), mdt)


def test_transpose_errors():
    a = mx.zeros((2, 3, 4))
    for bad in [(0, 1), (0, 1, 1)]:
        with pytest.raises(ValueError):
            mx.transpose(a, bad)
    with pytest.raises(IndexError):
        mx.transpose(a, (0, 1, 3))
    with pytest.raises(TypeError):
        mx.transpose(a, 1)
    with pytest.raises(IndexError):
        mx.swapaxes(a, 0, 3)
    with pytest.raises(IndexError):
        mx.moveaxis(a, -4, 0)
    with pytest.raises(TypeError):
        mx.moveaxis(a, 0)


def test_broadcast_to_and_arrays():
    n = sample((3, 1))
    same(mx.broadcast_to(n, (2, 3, 4)), np.broadcast_to(n, (2, 3, 4)))
    same(mx.broadcast_to(2.5, (2,)), np.full(2, 2.5, np.float32),
         mx.float32)
    same(mx.broadcast_to(mx.array(3), ()), np.array(3, np.int32))
    same(mx.broadcast_to(mx.zeros((1,)), (0,)), np.zeros((0,)))
    v = strided((3, 1))
    same(mx.broadcast_to(v, (3, 5)), np.broadcast_to(v, (3, 5)))
    with pytest.raises(ValueError):
        mx.broadcast_to(mx.zeros((2, 3)), (3, 3))
    with pytest.raises(ValueError):
        mx.broadcast_to(mx.zeros((2, 3)), (3,))

    x, y = mx.broadcast_arrays(mx.array(1), mx.array(1.0))
    assert x.shape == () and x.dtype == mx.int32 and y.dtype == mx.float32
    out = mx.broadcast_arrays(mx.zeros((3, 1, 2)), mx.ones((4, 1)),
                              sample((2,)), stream=None)
    assert isinstance(out, list) and len(out) == 3
    for o, w in zip(out, np.broadcast_arrays(np.zeros((3, 1, 2)),
                                             np.ones((4, 1)),
                                             sample((2,)))):
        same(o, w)
    assert mx.broadcast_arrays() == []
    with pytest.raises(ValueError):
        mx.broadcast_arrays(mx.zeros((2,)), mx.zeros((3,)))
    with pytest.raises(TypeError):
        mx.broadcast_arrays(mx.zeros(2), axis=0)


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 3, 4), (1, 2, 3, 4)])
def test_atleast(shape):
    n = sample(shape)
    for f, g in [(mx.atleast_1d, np.atleast_1d), (mx.atleast_2d,
                                                  np.atleast_2d),
                 (mx.atleast_3d, np.atleast_3d)]:
        same(f(mx.array(n)), g(n))
        many = f(n, mx.array(1), stream=None)
        assert isinstance(many, list) and len(many) == 2
        same(many[0], g(n))
        same(many[1], g(np.array(1, np.int32)))
    assert mx.atleast_2d() == []


# ------------------------------------------------------------------ #
# joining and splitting                                              #
# ------------------------------------------------------------------ #

@pytest.mark.parametrize("mdt,ndt", DTYPES)
def test_concatenate_stack(mdt, ndt):
    x, y = sample((2, 3), ndt), sample((2, 3), ndt, seed=5)
    a, b = mx.array(x, dtype=mdt), mx.array(y, dtype=mdt)
    same(mx.concatenate([a, b]), np.concatenate([x, y]), mdt)
    same(mx.concatenate((a, b), axis=-1), np.concatenate([x, y], -1), mdt)
    same(mx.concatenate([a, b], None), np.concatenate([x, y], None), mdt)
    same(mx.concat([a, b], 1), np.concatenate([x, y], 1), mdt)
    same(mx.concatenate([a]), x, mdt)
    same(mx.stack([a, b]), np.stack([x, y]), mdt)
    same(mx.stack([a, b], axis=-1), np.stack([x, y], -1), mdt)
    same(mx.stack([a, b], 1), np.stack([x, y], 1), mdt)
    v = strided((2, 3), ndt)
    same(mx.concatenate([v, x], 0), np.concatenate([v, x]))
    same(mx.stack([v, v.copy()], 2), np.stack([v, v], 2))


def test_concatenate_stack_mixed_and_errors():
    got = mx.concatenate([mx.zeros((1, 2), mx.int32), [[1.5, 2.5]]])
    assert got.dtype == mx.float32
    same(got, np.array([[0, 0], [1.5, 2.5]], np.float32))
    same(mx.concatenate([mx.zeros((0, 2)), mx.ones((1, 2))]),
         np.ones((1, 2), np.float32))
    same(mx.stack([mx.array(1), mx.array(2)]), np.array([1, 2], np.int32))
    with pytest.raises(ValueError):
        mx.concatenate([])
    with pytest.raises(ValueError):
        mx.stack([])
    with pytest.raises(ValueError):
        mx.concatenate([mx.zeros((2, 3)), mx.zeros((2, 4))])
    with pytest.raises(IndexError):
        mx.concatenate([mx.zeros((2, 3)), mx.zeros((2, 3))], axis=2)
    with pytest.raises(ValueError):
        mx.stack([mx.zeros((2, 3)), mx.zeros((3, 2))])
    with pytest.raises(IndexError):
        mx.stack([mx.zeros((2, 3))], axis=3)
    with pytest.raises(TypeError):
        mx.concatenate(mx.zeros((2, 3)))
    with pytest.raises(TypeError):
        mx.concatenate([mx.zeros(2), "x"])


def test_split():
    n = sample((6, 4))
    a = mx.array(n)
    for spec, ax in [(2, 0), (3, 0), (4, 1), ([1, 4], 0), ([2], -1),
                     ([], 0), ([3, 1], 0), ([0, 10], 1)]:
        got = mx.split(a, spec, axis=ax)
        want = np.split(n, spec, axis=ax)
        assert isinstance(got, list) and len(got) == len(want)
        for g, w in zip(got, want):
            same(g, w)
    parts = mx.split(strided((4, 2)), (1,))
    same(parts[1], strided((4, 2))[1:])
    parts = mx.split(mx.zeros((0, 3)), 3, 1)
    assert [p.shape for p in parts] == [(0, 1)] * 3
    with pytest.raises(ValueError):
        mx.split(a, 4)
    with pytest.raises(ValueError):
        mx.split(a, 0)
    with pytest.raises(IndexError):
        mx.split(a, 2, axis=2)
    with pytest.raises(IndexError):
        mx.split(mx.array(1), 1)
    with pytest.raises(TypeError):
        mx.split(a, 2.0)
    with pytest.raises(TypeError):
        mx.split(a, [1.0])


# ------------------------------------------------------------------ #
# padding and repetition                                             #
# ------------------------------------------------------------------ #

@pytest.mark.parametrize("mdt,ndt", DTYPES)
def test_pad_constant(mdt, ndt):
    n = sample((2, 3), ndt)
    a = mx.array(n, dtype=mdt)
    same(mx.pad(a, 1), np.pad(n, 1), mdt)
    same(mx.pad(a, (2,)), np.pad(n, 2), mdt)
    same(mx.pad(a, (1, 2)), np.pad(n, (1, 2)), mdt)
    same(mx.pad(a, [(0, 1), (2, 0)]), np.pad(n, [(0, 1), (2, 0)]), mdt)
    same(mx.pad(a, [(1, 0)]), np.pad(n, [(1, 0)]), mdt)
    same(mx.pad(a, 1, constant_values=1), np.pad(n, 1, constant_values=1),
         mdt)
    same(mx.pad(a, ((1, 1), (0, 0)), "constant", mx.array(1)),
         np.pad(n, ((1, 1), (0, 0)), constant_values=1), mdt)
    same(mx.pad(a, 0), n, mdt)
    v = strided((3, 2), ndt)
    same(mx.pad(v, (1, 2)), np.pad(v, (1, 2)))


@pytest.mark.parametrize("mdt,ndt", DTYPES)
def test_pad_edge(mdt, ndt):
    n = sample((2, 3), ndt)
    a = mx.array(n, dtype=mdt)
    same(mx.pad(a, 2, mode="edge"), np.pad(n, 2, mode="edge"), mdt)
    same(mx.pad(a, [(0, 1), (3, 0)], "edge"),
         np.pad(n, [(0, 1), (3, 0)], mode="edge"), mdt)
    v = strided((3, 2), ndt)
    same(mx.pad(v, (1, 2), mode="edge"), np.pad(v, (1, 2), mode="edge"))


def test_pad_values_and_errors():
    n = sample((2, 2))
    same(mx.pad(n, 1, constant_values=-2.5),
         np.pad(n, 1, constant_values=-2.5))
    big = 2**62 + 1
    got = mx.pad(mx.array([1], dtype=mx.int64), 1, constant_values=big)
    same(got, np.array([big, 1, big], np.int64), mx.int64)
    same(mx.pad(mx.zeros((0,)), 2), np.zeros((4,), np.float32))
    same(mx.pad(mx.array(3), []), np.array(3, np.int32))
    same(mx.pad(mx.zeros((2, 0)), ((0, 0), (1, 1)), constant_values=4),
         np.full((2, 2), 4, np.float32))
    with pytest.raises(ValueError):
        mx.pad(n, -1)
    with pytest.raises(ValueError):
        mx.pad(n, [(1, 1)] * 3)
    with pytest.raises(ValueError):
        mx.pad(n, 1, mode="wrap")
    with pytest.raises(ValueError):
        mx.pad(mx.zeros((0, 2)), 1, mode="edge")
    with pytest.raises(TypeError):
        mx.pad(n, "1")
    with pytest.raises(TypeError):
        mx.pad(n, [(1, 1.5), (1, 1)])


@pytest.mark.parametrize("mdt,ndt", DTYPES)
def test_tile_repeat(mdt, ndt):
    n = sample((2, 3), ndt)
    a = mx.array(n, dtype=mdt)
    for reps in [2, (2, 1), (1, 2, 2), [3], 0]:
        same(mx.tile(a, reps), np.tile(n, reps), mdt)
    same(mx.repeat(a, 2), np.repeat(n, 2), mdt)
    same(mx.repeat(a, 3, axis=1), np.repeat(n, 3, 1), mdt)
    same(mx.repeat(a, 2, -2), np.repeat(n, 2, -2), mdt)
    same(mx.repeat(a, 0, 0), np.repeat(n, 0, 0), mdt)
    v = strided((3, 2), ndt)
    same(mx.tile(v, (2, 2)), np.tile(v, (2, 2)))
    same(mx.repeat(v, 2, 0), np.repeat(v, 2, 0))


def test_tile_repeat_edge_cases_and_errors():
    same(mx.tile(mx.array(2), 3), np.tile(np.int32(2), 3))
    same(mx.repeat(mx.array(2.0), 2), np.repeat(np.float32(2), 2))
    same(mx.repeat(mx.zeros((0, 2)), 3, 0), np.zeros((0, 2)))
    with pytest.raises(ValueError):
        mx.repeat(mx.zeros(2), -1)
    with pytest.raises(IndexError):
        mx.repeat(mx.zeros(2), 2, axis=1)
    with pytest.raises(ValueError):
        mx.tile(mx.zeros(2), -1)
    with pytest.raises(TypeError):
        mx.tile(mx.zeros(2), 1.5)


def test_roll():
    n = sample((3, 4))
    a = mx.array(n)
    for shift, axis in [(1, None), (-5, None), (2, 0), (1, -1), ((1, 2),
                        (0, 1)), (3, (0, 1)), ((1, 1), 1), (0, 0),
                        (13, 1), ((1, 2), None)]:
        same(mx.roll(a, shift, axis), np.roll(n, shift, axis))
    same(mx.roll(strided((3, 2)), 1, 0), np.roll(strided((3, 2)), 1, 0))
    same(mx.roll(mx.zeros((0, 2)), 1), np.zeros((0, 2)))
    same(mx.roll(mx.array(1), 2), np.array(1, np.int32))
    with pytest.raises(ValueError):
        mx.roll(a, (1, 2, 3), (0, 1))
    with pytest.raises(IndexError):
        mx.roll(a, 1, 2)
    with pytest.raises(TypeError):
        mx.roll(a, 1.0)


# ------------------------------------------------------------------ #
# indexing and sorting                                               #
# ------------------------------------------------------------------ #

@pytest.mark.parametrize("mdt,ndt", DTYPES)
def test_take(mdt, ndt):
    n = sample((3, 4), ndt)
    a = mx.array(n, dtype=mdt)
    idx = np.array([[2, 0], [1, 1]])
    same(mx.take(a, mx.array(idx)), np.take(n, idx), mdt)
    same(mx.take(a, idx, axis=1), np.take(n, idx, 1), mdt)
    same(mx.take(a, [2, -1], -2), np.take(n, [2, -1], 0), mdt)
    same(mx.take(a, 1, 1), np.take(n, 1, 1), mdt)
    same(mx.take(a, -1), np.take(n, -1), mdt)
    same(mx.take(a, mx.array([], dtype=mx.int32), 0), n[:0], mdt)
    for idt in (np.uint8, np.int16, np.uint32, np.int64):
        same(mx.take(a, idx.astype(idt), 0), np.take(n, idx, 0), mdt)
    v = strided((3, 4), ndt)
    same(mx.take(v, strided((2,), np.int32) % 3, 0),
         np.take(v, strided((2,), np.int32) % 3, 0))


@pytest.mark.parametrize("mdt,ndt", DTYPES)
def test_take_along_axis(mdt, ndt):
    n = sample((3, 4), ndt)
    a = mx.array(n, dtype=mdt)
    idx = np.array([[3, 0, 1], [2, 2, 0], [0, 1, 3]])
    same(mx.take_along_axis(a, idx, axis=1),
         np.take_along_axis(n, idx, 1), mdt)
    same(mx.take_along_axis(a, idx[:, :1] % 3, 0),
         np.take_along_axis(n, idx[:, :1] % 3, 0), mdt)
    same(mx.take_along_axis(a, mx.array([5, 0, 11])),
         np.take_along_axis(n.ravel(), np.array([5, 0, 11]), None), mdt)
    same(mx.take_along_axis(a, np.array([[1], [0], [2]]), -1),
         np.take_along_axis(n, np.array([[1], [0], [2]]), -1), mdt)


def test_take_errors():
    a = mx.zeros((3, 4))
    with pytest.raises(TypeError):
        mx.take(a, mx.array([1.0]))
    with pytest.raises(IndexError):
        mx.take(a, [0], axis=2)
    with pytest.raises(TypeError):
        mx.take(a, [0], 1.0)
    with pytest.raises(IndexError):
        mx.take_along_axis(a, mx.array([[0]]), 2)
    with pytest.raises(ValueError):
        mx.take_along_axis(a, mx.array([0]), 0)


@pytest.mark.parametrize("mdt,ndt", [d for d in DTYPES if d[0] != mx.bool_])
def test_sort_argsort(mdt, ndt):
    n = sample((3, 5), ndt, seed=3)
    a = mx.array(n, dtype=mdt)
    same(mx.sort(a), np.sort(n, -1), mdt)
    same(mx.sort(a, 0), np.sort(n, 0), mdt)
    same(mx.sort(a, axis=None), np.sort(n, None), mdt)
    i = mx.argsort(a)
    assert i.dtype == mx.uint32
    same(i, np.argsort(n, -1, kind="stable"))
    same(mx.argsort(a, axis=-2), np.argsort(n, 0, kind="stable"))
    same(mx.argsort(a, None), np.argsort(n, None, kind="stable"))
    v = strided((3, 4), ndt)
    same(mx.sort(v, 0), np.sort(v, 0))
    same(mx.argsort(v), np.argsort(v, kind="stable"))


def test_sort_special_values_and_errors():
    n = np.array([3.0, np.nan, -np.inf, 1.0, np.inf, -0.5], np.float32)
    same(mx.sort(n), np.sort(n))
    same(mx.argsort(n), np.argsort(n, kind="stable"))
    same(mx.sort(mx.array([True, False, True])), np.array([0, 1, 1], bool))
    same(mx.sort(mx.array(2.0)) if False else mx.sort(mx.zeros((0, 3))),
         np.zeros((0, 3)))
    with pytest.raises(IndexError):
        mx.sort(mx.zeros((2, 3)), 2)
    with pytest.raises(IndexError):
        mx.argsort(mx.zeros((2, 3)), axis=-3)
    with pytest.raises(TypeError):
        mx.sort(mx.zeros(3), "0")


def test_topk_and_partition():
    n = sample((3, 6), np.float32, seed=2)
    a = mx.array(n)
    for k in (0, 1, 3, 6):
        got = np.array(mx.topk(a, k))
        assert got.shape == (3, k)
        np.testing.assert_array_equal(np.sort(got, -1),
                                      np.sort(n, -1)[:, 6 - k:])
    got = np.array(mx.topk(a, 2, axis=0))
    np.testing.assert_array_equal(np.sort(got, 0), np.sort(n, 0)[1:])
    got = np.array(mx.topk(a, 4, None))
    np.testing.assert_array_equal(np.sort(got), np.sort(n, None)[-4:])
    for kth in (0, 2, -1):
        p = np.array(mx.partition(a, kth))
        s = np.sort(n, -1)
        np.testing.assert_array_equal(p[:, kth], s[:, kth])
        assert (p[:, :kth % 6] <= p[:, [kth]]).all()
        assert (p[:, kth % 6:] >= p[:, [kth]]).all()
        i = mx.argpartition(a, kth, axis=-1)
        assert i.dtype == mx.uint32
        np.testing.assert_array_equal(
            np.take_along_axis(n, np.array(i), -1)[:, kth], s[:, kth])
    p = np.array(mx.partition(a, 5, axis=None))
    assert p.shape == (18,) and p[5] == np.sort(n, None)[5]
    with pytest.raises(ValueError):
        mx.topk(a, 7)
    with pytest.raises(IndexError):
        mx.topk(a, 1, axis=2)
    with pytest.raises(ValueError):
        mx.partition(a, 6)
    with pytest.raises(ValueError):
        mx.argpartition(a, -7)
    with pytest.raises(TypeError):
        mx.topk(a, 1.5)


# ------------------------------------------------------------------ #
# diagonals and grids                                                #
# ------------------------------------------------------------------ #

@pytest.mark.parametrize("mdt,ndt", DTYPES)
def test_diag_diagonal_trace(mdt, ndt):
    m = sample((3, 4), ndt)
    a = mx.array(m, dtype=mdt)
    for k in (0, 1, -1, 3, -3, 5):
        same(mx.diag(a, k), np.diag(m, k), mdt)
        same(mx.diagonal(a, k), np.diagonal(m, k), mdt)
    v = sample((3,), ndt)
    for k in (0, 2, -1):
        same(mx.diag(mx.array(v, dtype=mdt), k=k), np.diag(v, k), mdt)
    t = sample((2, 3, 4), ndt)
    b = mx.array(t, dtype=mdt)
    for off, ax1, ax2 in [(0, 0, 1), (1, 1, 2), (-1, 2, 0), (0, -1, -3)]:
        same(mx.diagonal(b, off, ax1, ax2), np.diagonal(t, off, ax1, ax2),
             mdt)
        same(mx.diagonal(a=b, offset=off, axis1=ax1, axis2=ax2),
             np.diagonal(t, off, ax1, ax2), mdt)
    s = strided((3, 4), ndt)
    same(mx.diagonal(s, 1), np.diagonal(s, 1))
    same(mx.diag(s, -1), np.diag(s, -1))


def test_trace_values_dtypes_and_errors():
    m = sample((4, 3), np.int32)
    for off in (0, 1, -2, 9):
        same(mx.trace(m, off), np.trace(m, off).astype(np.int32), mx.int32)
    t = sample((2, 3, 4), np.float32)
    same(mx.trace(t, 1, 0, 2), np.trace(t, 1, 0, 2).astype(np.float32))
    got = mx.trace(m, dtype=mx.float32)
    assert got.dtype == mx.float32 and got.item() == np.trace(m)
    with pytest.raises(ValueError):
        mx.diagonal(mx.zeros(3))
    with pytest.raises(ValueError):
        mx.diagonal(mx.zeros((2, 2)), 0, 0, 0)
    with pytest.raises(IndexError):
        mx.diagonal(mx.zeros((2, 2)), 0, 0, 2)
    with pytest.raises(ValueError):
        mx.diag(mx.zeros((2, 2, 2)))
    with pytest.raises(ValueError):
        mx.trace(mx.zeros(3))
    with pytest.raises(TypeError):
        mx.trace(mx.zeros((2, 2)), dtype="float32")


def test_meshgrid():
    x, y, z = sample((3,)), sample((2,), np.int32), sample((4,))
    for indexing in ("xy", "ij"):
        for sparse in (False, True):
            got = mx.meshgrid(x, y, z, indexing=indexing, sparse=sparse)
            want = np.meshgrid(x, y, z, indexing=indexing, sparse=sparse)
            assert isinstance(got, list) and len(got) == 3
            for g, w in zip(got, want):
                same(g, w)
    (only,) = mx.meshgrid(x)
    same(only, x)
    assert mx.meshgrid() == []
    with pytest.raises(ValueError):
        mx.meshgrid(x, y, indexing="xz")
    with pytest.raises(TypeError):
        mx.meshgrid(x, axis=0)


# ------------------------------------------------------------------ #
# arguments                                                          #
# ------------------------------------------------------------------ #

def test_stream_keyword_is_accepted_everywhere():
    a = mx.zeros((2, 3))
    calls = [
        lambda: mx.full((2,), 1, stream=None),
        lambda: mx.zeros_like(a, stream=None),
        lambda: mx.arange(0, 3, 1, stream=None),
        lambda: mx.linspace(0, 1, 3, stream=None),
        lambda: mx.eye(2, stream=None), lambda: mx.identity(2, stream=None),
        lambda: mx.tri(2, stream=None), lambda: mx.tril(a, stream=None),
        lambda: mx.flatten(a, stream=None),
        lambda: mx.unflatten(a, 0, (2,), stream=None),
        lambda: mx.squeeze(a, stream=None),
        lambda: mx.expand_dims(a, 0, stream=None),
        lambda: mx.transpose(a, stream=None),
        lambda: mx.swapaxes(a, 0, 1, stream=None),
        lambda: mx.moveaxis(a, 0, 1, stream=None),
        lambda: mx.broadcast_to(a, (2, 3), stream=None),
        lambda: mx.concatenate([a], stream=None),
        lambda: mx.stack([a], stream=None),
        lambda: mx.split(a, 2, stream=None)[0],
        lambda: mx.pad(a, 1, stream=None), lambda: mx.tile(a, 2, stream=None),
        lambda: mx.repeat(a, 2, stream=None),
        lambda: mx.roll(a, 1, stream=None),
        lambda: mx.take(a, 0, stream=None),
        lambda: mx.take_along_axis(a, mx.zeros((2, 1), mx.int32), 1,
                                   stream=None),
        lambda: mx.sort(a, stream=None), lambda: mx.argsort(a, stream=None),
        lambda: mx.topk(a, 1, stream=None),
        lambda: mx.partition(a, 0, stream=None),
        lambda: mx.diag(a, stream=None), lambda: mx.trace(a, stream=None),
        lambda: mx.diagonal(a, stream=None),
        lambda: mx.meshgrid(mx.arange(2), stream=None)[0],
    ]
    for c in calls:
        assert isinstance(c(), mx.array)


def test_results_are_lazy_values_usable_later():
    a = mx.reshape(mx.arange(12), (3, 4))
    b = mx.transpose(mx.pad(a, 1, mode="edge"))
    c = mx.concatenate([mx.sort(b, 0), mx.tril(b)], 1)
    want_b = np.pad(np.arange(12).reshape(3, 4), 1, mode="edge").T
    same(c, np.concatenate([np.sort(want_b, 0), np.tril(want_b)], 1))


def _mix(x):
    """A scalar function of x through many of the ops above (piecewise
    linear: exact under small finite differences)."""
    w = mx.reshape(mx.arange(1, 41, dtype=mx.float64), (5, 8))
    y = mx.pad(x, ((1, 0), (0, 2)), mode="edge")            # (4, 6)
    y = mx.concatenate([mx.tril(y), mx.roll(y, 1, 0)], 1)   # (4, 12)
    y = mx.pad(y, ((0, 1), (0, 0)), constant_values=2.0)    # (5, 12)
    y = mx.take(y, mx.array([0, 2, 4, 5, 7, 9, 10, 11]), 1)  # (5, 8)
    s = mx.sort(mx.transpose(mx.tile(x, (1, 2))), 0)         # (8, 3)
    parts = mx.split(mx.flatten(x), [5])
    return (mx.sum(w * y) + mx.sum(mx.topk(s, 2, 0) * 3.0)
            + mx.sum(mx.diagonal(mx.reshape(x, (4, 3)), -1))
            + mx.sum(parts[0]) * 2.0 + mx.trace(x, 1)
            + mx.sum(mx.stack([mx.repeat(x, 2, 1)[:, ::2], x]) * 0.5))


@pytest.mark.skipif(not hasattr(mx, "grad") or not hasattr(mx, "compile"),
                    reason="transforms not built")
def test_ops_under_compile_and_grad():
    """The ops build graphs only, so they work on the placeholders of
    compile and grad; the gradient matches finite differences."""
    n = (np.arange(12, dtype=np.float64) * 5 % 12).reshape(3, 4)
    x = mx.array(n, dtype=mx.float64)
    eager = _mix(x).item()
    assert mx.compile(_mix)(x).item() == pytest.approx(eager, rel=1e-12)
    g = np.array(mx.grad(_mix)(x))
    fd = np.zeros_like(n)
    for i in np.ndindex(*n.shape):
        e = np.zeros_like(n)
        e[i] = 1e-3
        fd[i] = (_mix(mx.array(n + e, dtype=mx.float64)).item()
                 - _mix(mx.array(n - e, dtype=mx.float64)).item()) / 2e-3
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6)


def test_shapes_from_numpy_ints_and_arrays():
    assert mx.ones(np.array([2, 3])).shape == (2, 3)
    assert mx.zeros(np.int64(3)).shape == (3,)
    assert mx.zeros(np.array(4)).shape == (4,)
    assert mx.ones((np.int32(2), 5)).shape == (2, 5)
    with pytest.raises(TypeError):
        mx.ones(np.array([2.5]))
    parts = mx.split(mx.arange(6), np.array([2, 4]))
    assert [p.tolist() for p in parts] == [[0, 1], [2, 3], [4, 5]]


def test_zeros_ones_like_dtype():
    z = mx.zeros_like(mx.array([1, 2]), dtype=mx.float32)
    assert z.dtype == mx.float32 and z.tolist() == [0.0, 0.0]
    o = mx.ones_like(mx.array([1.5]), mx.int32)
    assert o.dtype == mx.int32 and o.tolist() == [1]
    assert mx.empty_like(mx.array([1.0]), dtype=mx.int8).dtype == mx.int8


@pytest.mark.parametrize("mode", ["edge", "reflect", "symmetric"])
def test_pad_mirror_modes(mode):
    a = np.arange(20, dtype=np.float32).reshape(4, 5)
    for pw in [2, [(1, 2), (3, 0)], [(0, 3), (4, 4)]]:
        same(mx.pad(mx.array(a), pw, mode=mode), np.pad(a, pw, mode=mode))
    # wider than the axis allows once: MLX's limit (NumPy repeats)
    with pytest.raises(ValueError):
        mx.pad(mx.array(a), [(0, 0), (0, 6)], mode=mode if mode != "edge"
               else "reflect")
    with pytest.raises(ValueError):
        mx.pad(mx.array(a), 1, mode="wrap")
    cf = mx.compile(lambda x: mx.pad(x, [(1, 1)], mode=mode),
                    shapeless=True)
    for n in [3, 6]:
        v = np.arange(n, dtype=np.float32)
        if mode != "edge":  # edge broadcasts one row: fine shapeless too
            same(cf(mx.array(v)), np.pad(v, 1, mode=mode))
