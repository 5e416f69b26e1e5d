"""NumPy-style functions of mlx.core (ops_numpy.c) and the aliases,
against numpy."""
import numpy as np
import pytest

import kiln as mx

A = np.array([[1.0, -2.5, 3.7], [4.0, 0.0, -6.2]], np.float32)
I = np.array([[3, 1, 2], [0, 5, 4]], np.int32)


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.array(a), np.array(b), rtol=tol, atol=tol)


def test_flip():
    close(mx.flip(mx.array(A)), np.flip(A))
    close(mx.flip(mx.array(A), axis=1), np.flip(A, axis=1))
    close(mx.flip(mx.array(A), axis=[0, -1]), np.flip(A, axis=(0, 1)))
    with pytest.raises(IndexError):
        mx.flip(mx.array(A), axis=2)


def test_trunc_positive_conj_astype():
    close(mx.trunc(mx.array(A)), np.trunc(A))
    assert mx.trunc(mx.array(I)).tolist() == I.tolist()
    assert mx.positive(mx.array(I)).tolist() == I.tolist()
    assert mx.conj(mx.array(A)).tolist() == mx.array(A).tolist()
    y = mx.astype(mx.array(A), mx.int32)
    assert y.dtype == mx.int32 and y.tolist() == A.astype(np.int32).tolist()


def test_logical_xor_and_count_nonzero():
    assert mx.logical_xor(mx.array(A), mx.array(I)).tolist() == \
        np.logical_xor(A, I).tolist()
    assert mx.logical_xor(mx.array(A) > 0, True).tolist() == \
        np.logical_xor(A > 0, True).tolist()
    c = mx.count_nonzero(mx.array(A))
    assert c.dtype == mx.int32 and c.item() == np.count_nonzero(A)
    assert mx.count_nonzero(mx.array(A), axis=1, keepdims=True).tolist() == \
        np.count_nonzero(A, axis=1, keepdims=True).tolist()


def test_diff_unstack_matrix_transpose():
    assert mx.diff(mx.array(I)).tolist() == np.diff(I).tolist()
    close(mx.diff(mx.array(A), n=2, axis=1), np.diff(A, n=2, axis=1))
    assert mx.diff(mx.array(I), axis=0).tolist() == np.diff(I, axis=0).tolist()
    assert mx.diff(mx.array(A) > 0).tolist() == np.diff(A > 0).tolist()
    with pytest.raises(ValueError):
        mx.diff(mx.array(I), n=-1)
    parts = mx.unstack(mx.array(A), axis=1)
    assert isinstance(parts, tuple) and len(parts) == 3
    for k in range(3):
        close(parts[k], A[:, k])
    close(mx.matrix_transpose(mx.array(A)), A.T)
    with pytest.raises(ValueError):
        mx.matrix_transpose(mx.array([1.0]))


def test_full_like():
    y = mx.full_like(mx.array(I), 2.5)
    assert y.dtype == mx.int32 and y.tolist() == [[2] * 3] * 2
    y = mx.full_like(mx.array(I), 2.5, dtype=mx.float32)
    assert y.dtype == mx.float32 and y.tolist() == [[2.5] * 3] * 2


def test_tensordot():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    b = rng.standard_normal((3, 4, 5)).astype(np.float32)
    close(mx.tensordot(mx.array(a), mx.array(b)), np.tensordot(a, b), 1e-5)
    close(mx.tensordot(mx.array(a), mx.array(b), axes=[[1, 2], [0, 1]]),
          np.tensordot(a, b, axes=[[1, 2], [0, 1]]), 1e-5)
    c = rng.standard_normal((4, 2)).astype(np.float32)
    close(mx.tensordot(mx.array(a), mx.array(c), axes=[[2, 0], [0, 1]]),
          np.tensordot(a, c, axes=[[2, 0], [0, 1]]), 1e-5)
    close(mx.tensordot(mx.array(A[0]), mx.array(A[1]), axes=0),
          np.tensordot(A[0], A[1], axes=0))
    with pytest.raises(ValueError):
        mx.tensordot(mx.array(a), mx.array(c), axes=2)


def test_median():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 5, 6)).astype(np.float32)
    close(mx.median(mx.array(x)), np.median(x))
    for axis in [0, 1, -1, (0, 2)]:
        close(mx.median(mx.array(x), axis=axis), np.median(x, axis=axis))
    close(mx.median(mx.array(x), axis=1, keepdims=True),
          np.median(x, axis=1, keepdims=True))
    m = mx.median(mx.array([3, 1, 2, 4]))
    assert m.dtype == mx.float32 and m.item() == 2.5


def test_linalg_norm():
    import kiln.linalg as la
    x = mx.array(A)
    close(la.norm(x), np.linalg.norm(A), 1e-5)
    close(la.norm(x, axis=1), np.linalg.norm(A, axis=1), 1e-5)
    close(la.norm(x, axis=1, keepdims=True),
          np.linalg.norm(A, axis=1, keepdims=True), 1e-5)
    for o in [1, -1, np.inf, -np.inf, "fro"]:
        close(la.norm(x, ord=o), np.linalg.norm(A, ord=o), 1e-5)
    for o in [np.inf, -np.inf, 0, 1, 2, 3, 0.5]:
        close(la.norm(x[0], ord=o), np.linalg.norm(A[0], ord=o), 1e-5)
    with pytest.raises(ValueError):
        la.norm(x, ord=2)  # needs singular values
    with pytest.raises(ValueError):
        la.norm(x, ord="nuc")


def test_numpy_style_aliases():
    v = mx.array([0.25, 0.5])
    for alias, name in [("acos", "arccos"), ("asin", "arcsin"),
                        ("atan", "arctan"), ("acosh", "arccosh"),
                        ("asinh", "arcsinh"), ("atanh", "arctanh")]:
        arg = v + 1.5 if alias == "acosh" else v
        close(getattr(mx, alias)(arg), getattr(mx, name)(arg))
    close(mx.atan2(v, v + 1), mx.arctan2(v, v + 1))
    assert mx.pow(mx.array(2), 3).item() == 8
    assert mx.bitwise_left_shift(mx.array(1), 3).item() == 8
    assert mx.bitwise_right_shift(mx.array(8), 3).item() == 1
    assert mx.asarray([1, 2]).tolist() == [1, 2]
    assert mx.empty((2, 3)).shape == (2, 3)
    assert mx.empty_like(mx.array(I)).shape == I.shape


def test_review_edges():
    import gc
    # trunc of ints and diff(n=0) give the input back without leaking it
    x = mx.arange(1 << 20).astype(mx.int32)
    mx.eval(x)
    base = mx.get_active_memory()
    y, z = mx.trunc(x), mx.diff(x, n=0)
    assert y.tolist()[:3] == [0, 1, 2] and z.shape == x.shape
    del x, y, z
    gc.collect()
    assert base - mx.get_active_memory() >= 4 << 20
    with pytest.raises(ValueError):
        mx.linalg.norm(mx.array(3.0), ord=1)  # an ord needs axes
    assert mx.linalg.norm(mx.array(-3.0)).item() == 3.0
    with pytest.raises(ValueError, match="broadcast"):
        mx.full_like(mx.ones(2), mx.ones(3))


def test_full_like_and_unstack_under_shapeless():
    cf = mx.compile(lambda t: mx.full_like(t, 3), shapeless=True)
    assert cf(mx.ones(4)).shape == (4,) and cf(mx.ones(6)).shape == (6,)
    cu = mx.compile(lambda t: mx.unstack(t), shapeless=True)
    assert len(cu(mx.ones(4))) == 4
    with pytest.raises(ValueError):
        cu(mx.ones(6))  # the number of parts was the traced length


EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(5, 2, 3), (5, 3, 4)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("i,i->", [(4,), (4,)]), ("i,j->ij", [(3,), (4,)]),
    ("ij->ji", [(2, 3)]), ("ij->", [(2, 3)]), ("ij->j", [(2, 3)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("abc,cd->abd", [(2, 3, 4), (4, 5)]), ("i...,i->...", [(3, 2, 2), (3,)]),
    ("ba,ca", [(2, 3), (4, 3)]), ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("ij,kj->ik", [(1, 3), (4, 3)]), ("ab,b->a", [(3, 1), (4,)]),
]


@pytest.mark.parametrize("sub,shapes", EINSUM_CASES)
def test_einsum_against_numpy(sub, shapes):
    rng = np.random.default_rng(len(sub))
    ops = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    close(mx.einsum(sub, *[mx.array(o) for o in ops]), np.einsum(sub, *ops),
          1e-4)


def test_einsum_errors_and_grad():
    for sub, shapes in [("ii->i", [(3, 3)]), ("ij,jk->ik", [(2, 3), (4, 4)]),
                        ("ij->k", [(2, 2)]), ("ij,jk", [(2, 3)]),
                        ("i$", [(2,)])]:
        with pytest.raises(ValueError):
            mx.einsum(sub, *[mx.ones(s) for s in shapes])
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.arange(12, dtype=np.float32).reshape(3, 4)
    g = mx.grad(lambda x: mx.einsum("ij,jk->", x, mx.array(b)))(mx.array(a))
    close(g, np.broadcast_to(b.sum(1), (2, 3)))
    cf = mx.compile(lambda x, y: mx.einsum("ij,jk->ik", x, y))
    close(cf(mx.array(a), mx.array(b)), a @ b)


def test_put_along_axis():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    for axis, ishape in [(1, (3, 2, 5)), (0, (2, 4, 5)), (-1, (3, 4, 3))]:
        idx = rng.integers(-x.shape[axis], x.shape[axis], ishape)
        v = rng.standard_normal(ishape).astype(np.float32)
        want = x.copy()
        np.put_along_axis(want, idx, v, axis=axis)
        got = mx.put_along_axis(mx.array(x), mx.array(idx), mx.array(v),
                                axis=axis)
        close(got, want)
    # repeated indices: the last one wins; a scalar value broadcasts
    y = mx.put_along_axis(mx.zeros(5), mx.array([1, 1, 3]),
                          mx.array([1.0, 2.0, 3.0]), axis=0)
    assert y.tolist() == [0, 2, 0, 3, 0]
    y = mx.put_along_axis(mx.zeros((2, 3)), mx.array([0, 4]), 9.0)
    assert y.tolist() == [[9, 0, 0], [0, 9, 0]]
    assert mx.put_along_axis(mx.ones((2, 3)), mx.zeros((0, 3), mx.int32),
                             5.0, axis=0).tolist() == [[1] * 3] * 2
    with pytest.raises(TypeError):
        mx.put_along_axis(mx.zeros(3), mx.array([0.5]), 1.0, axis=0)
    with pytest.raises(ValueError):
        mx.put_along_axis(mx.zeros((2, 2)), mx.array([0]), 1.0, axis=0)


def test_small_mlx_functions():
    assert mx.broadcast_shapes((2, 1), (3,)) == (2, 3)
    assert mx.broadcast_shapes((4,)) == (4,)
    with pytest.raises(ValueError):
        mx.broadcast_shapes((2,), (3,))
    assert mx.result_type(mx.float16, mx.array(1)) == mx.float16
    assert mx.result_type(mx.int8, mx.uint8) == mx.int16
    with pytest.raises(ValueError):
        mx.result_type(1.0)
    assert mx.real(mx.array([1, 2])).tolist() == [1, 2]
    assert mx.imag(mx.array([1.0, 2.0])).tolist() == [0.0, 0.0]
    assert mx.contiguous(mx.ones((2, 3)).T).shape == (3, 2)
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([[0, 1], [1, 0]], np.float32)
    close(mx.kron(mx.array(a), mx.array(b)), np.kron(a, b))
    close(mx.kron(mx.array(a[0]), mx.array(b)), np.kron(a[0], b))
    close(mx.vecdot(mx.array(a), mx.array(a[1])), a @ a[1])
    seq = np.array([1, 2, 2, 3, 5], np.float32)
    v = np.array([0, 2, 4, 6, 2.5], np.float32)
    for side in ["left", "right"]:
        got = mx.searchsorted(mx.array(seq), mx.array(v), side=side)
        assert got.dtype == mx.uint32
        assert got.tolist() == np.searchsorted(seq, v, side=side).tolist()
    with pytest.raises(ValueError):
        mx.searchsorted(mx.array(seq), mx.array(v), side="middle")
    assert mx.cumulative_sum(mx.array([1, 2, 3])).tolist() == [1, 3, 6]
    assert mx.cumulative_prod(mx.array([1, 2, 3])).tolist() == [1, 2, 6]
    f = mx.checkpoint(lambda x: (x * x).sum())
    close(mx.grad(f)(mx.array([1.0, 2.0])), [2.0, 4.0])
    with pytest.raises(TypeError):
        mx.checkpoint(3)
