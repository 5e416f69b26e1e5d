"""Indexing (x[key]), item assignment (x[key] = v) and x.at[key] updates
of kiln arrays, with numpy as the oracle."""
import numpy as np
import pytest

import kiln as mx

SHAPE = (4, 5, 6)


def base():
    return np.arange(np.prod(SHAPE), dtype=np.int32).reshape(SHAPE)


# ------------------------------------------------------------------
# random keys
# ------------------------------------------------------------------

def rand_slice(rng):
    def bound():
        return None if rng.random() < 0.3 else int(rng.integers(-8, 9))
    step = [None, 1, 2, 3, -1, -2, -3][rng.integers(0, 7)]
    return slice(bound(), bound(), step)


def rand_array(rng, n, shape, kind, unique=False):
    size = int(np.prod(shape))
    if unique and size <= n:
        v = rng.permutation(n)[:size]
    else:
        v = rng.integers(0, n, size=size)
    v = v - n * (rng.random(size) < 0.3)  # some negative indices
    v = v.reshape(shape)
    if kind == 0:
        return mx.array(v.astype(np.int32)), v
    if kind == 1:
        return v.astype(np.int64), v
    return v.tolist(), v


def rand_key(rng, unique=False):
    """A key for a (4, 5, 6) array and the same key for numpy."""
    nused = int(rng.integers(0, 4))
    # index-array shapes that broadcast together
    bshapes = [(), (2,), (3, 1), (1, 2), (3, 2)]
    ours, theirs = [], []
    axis = 0
    ellipsis = rng.random() < 0.3
    for _ in range(nused):
        if ellipsis and rng.random() < 0.3:
            ours.append(Ellipsis)
            theirs.append(Ellipsis)
            ellipsis = False
            axis = 3 - (nused - len([k for k in ours if k is not None
                                     and k is not Ellipsis]))
        while rng.random() < 0.2:
            ours.append(None)
            theirs.append(None)
        n = SHAPE[min(axis, 2)]
        r = rng.random()
        if r < 0.3:
            i = int(rng.integers(-n, n))
            ours.append(i)
            theirs.append(i)
        elif r < 0.65:
            s = rand_slice(rng)
            ours.append(s)
            theirs.append(s)
        else:
            shape = bshapes[rng.integers(0, len(bshapes))]
            o, t = rand_array(rng, n, shape, int(rng.integers(0, 3)),
                              unique)
            ours.append(o)
            theirs.append(t)
        axis += 1
    if rng.random() < 0.2:
        ours.append(None)
        theirs.append(None)
    return tuple(ours), tuple(theirs)


def test_random_keys_match_numpy():
    rng = np.random.default_rng(0)
    n = base()
    x = mx.array(n)
    checked = 0
    for _ in range(400):
        ours, theirs = rand_key(rng)
        try:
            want = n[theirs]
        except IndexError:
            with pytest.raises(IndexError):
                x[ours]
            continue
        got = x[ours]
        assert got.shape == want.shape, (theirs, got.shape, want.shape)
        np.testing.assert_array_equal(np.array(got), want, str(theirs))
        checked += 1
    assert checked > 300


def test_random_assignments_match_numpy():
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(300):
        ours, theirs = rand_key(rng, unique=True)
        n = base()
        try:
            view = n[theirs]
        except IndexError:
            continue
        # positions written more than once get one value (order-free)
        pos = np.arange(n.size).reshape(SHAPE)[theirs]
        if len(np.unique(pos)) != pos.size or rng.random() < 0.2:
            v = -7
        else:
            v = -np.arange(1, view.size + 1, dtype=np.int32).reshape(
                view.shape)
        x = mx.array(n)
        n[theirs] = v
        x[ours] = mx.array(v) if isinstance(v, np.ndarray) else v
        np.testing.assert_array_equal(np.array(x), n, str(theirs))
        assert x.dtype == mx.int32
        checked += 1
    assert checked > 200


# ------------------------------------------------------------------
# getitem
# ------------------------------------------------------------------

def test_basic_keys():
    n = base()
    x = mx.array(n)
    for key in [0, -1, (1, 2), (1, 2, 3), (-1, -2, -3), slice(None),
                slice(1, 3), slice(None, None, -1), slice(None, None, -2),
                (slice(3, 0, -1), 2), (Ellipsis, 1), (1, Ellipsis),
                (None, 1, None), (Ellipsis, None), (), Ellipsis, None,
                (slice(10, 20),), (slice(-20, 20, 3),),
                (slice(None), slice(None), slice(None, None, -4)),
                (0, slice(5, None, -1), slice(100, -100, -2))]:
        got = x[key]
        want = n[key]
        assert got.shape == want.shape, key
        np.testing.assert_array_equal(np.array(got), want, str(key))


def test_advanced_placement_follows_numpy():
    n = base()
    x = mx.array(n)
    i = np.array([0, 2, 1])
    keys = [
        (i,), (slice(None), i), (Ellipsis, i), (i, slice(None), i),
        (0, slice(None), i), (slice(None), 0, i), (i, 0),
        (i[:, None], slice(None), i[None, :]),
        (slice(1, 3), i, i), (i, None, i), (None, i, i),
        (np.array(1), slice(None)), ([0, 3], [[1], [2]]),
        ([[0, 1], [2, 3]],), (i, Ellipsis, -1),
    ]
    for key in keys:
        want = n[key]
        got = x[key]
        assert got.shape == want.shape, key
        np.testing.assert_array_equal(np.array(got), want, str(key))
    # kiln.array indices of any integer dtype, negative too
    for dt in [mx.int8, mx.uint8, mx.int16, mx.int32, mx.uint32, mx.int64]:
        idx = mx.array([3, 0, 1], dtype=dt)
        np.testing.assert_array_equal(np.array(x[idx]), n[[3, 0, 1]])
    np.testing.assert_array_equal(np.array(x[mx.array([-1, -4])]),
                                  n[[-1, -4]])


def test_scalar_results_and_numpy_int_scalars():
    x = mx.array(base())
    y = x[1, 2, 3]
    assert y.shape == () and y.item() == base()[1, 2, 3]
    assert x[np.int64(2), np.int32(1)].shape == (6,)
    z = mx.array(5)
    assert z[()].item() == 5 and z[...].item() == 5
    assert z[None].shape == (1,)
    # 0-d integer arrays work as indices (operator.index)
    assert x[mx.array(1)].shape == (5, 6)


def test_empty_results():
    n = base()
    x = mx.array(n)
    for key in [slice(3, 1), (slice(None), []), ([],), (slice(2, 2), 0),
                (slice(None), slice(0, 0), [0, 1])]:
        assert x[key].shape == n[key].shape, key
    e = mx.array(np.zeros((0, 3), np.float32))
    assert e[:, [0, 2]].shape == (0, 2)
    with pytest.raises(IndexError):
        e[[0]]


def test_index_errors():
    x = mx.array(base())
    with pytest.raises(IndexError):
        x[4]
    with pytest.raises(IndexError):
        x[-5]
    with pytest.raises(IndexError):
        x[0, 0, 0, 0]
    with pytest.raises(IndexError):
        x[..., 0, ...]
    with pytest.raises(IndexError):
        x[[0, 4]]          # host indices are bounds-checked
    with pytest.raises(IndexError):
        x[0, [-7]]
    with pytest.raises(IndexError):
        x[1.5]
    with pytest.raises(IndexError):
        x["a"]
    with pytest.raises(IndexError):
        x[mx.array([0.0, 1.0])]
    with pytest.raises(IndexError):
        mx.array(1)[0]
    with pytest.raises(ValueError):
        x[slice(None, None, 0)]
    with pytest.raises(TypeError):
        x[slice("a", None)]


def test_boolean_indices_raise_as_mlx():
    x = mx.array(base())
    with pytest.raises(ValueError):
        x[mx.array([True, False, True, False])]
    with pytest.raises(ValueError):
        x[np.array([True, False, True, False])]
    with pytest.raises(ValueError):
        x[True]


def test_boolean_mask_assignment():
    # as MLX (and numpy): x[mask] = v writes v where the mask holds
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    cases = [
        (lambda y: y > 2, 0),
        (lambda y: np.array([True, False]), 7),  # a leading-axes mask
        (lambda y: np.array([[False, True, False], [True, False, True]]),
         np.array([10, 20, 30], np.int32)),      # one value per position
        (lambda y: np.array([True, False]), np.array([[7, 8, 9]])),
        (lambda y: np.array([True, True]), np.array([[7, 8, 9],
                                                     [1, 2, 3]])),
        (lambda y: np.array([True, True]), np.array([7, 8, 9])),
        (lambda y: y % 2 == 0, np.array([5])),
    ]
    for mk, v in cases:
        want = a.copy()
        want[mk(want)] = v
        x = mx.array(a)
        m = mk(a)
        x[mx.array(m)] = mx.array(v) if isinstance(v, np.ndarray) else v
        assert x.tolist() == want.tolist()
        x = mx.array(a)
        x[m] = v  # a NumPy mask too
        assert x.tolist() == want.tolist()
    f = mx.array(a.astype(np.float32))
    f[f > 2.5] = 1.5
    assert f.tolist() == [[0, 1, 2], [1.5, 1.5, 1.5]]
    x = mx.array(a)
    with pytest.raises(ValueError):
        x[x > 2] = mx.array([1, 2])  # 3 positions, 2 values
    with pytest.raises(ValueError):
        x[mx.array([True, False, True])] = 1  # does not match the axes
    with pytest.raises(ValueError):
        x[x > 2] = 300 * mx.ones(1, dtype=mx.int32) + 2**31  # overflows
    assert x.tolist() == a.tolist()  # failed assignments change nothing


def test_huge_slice_bounds_and_empty_masks():
    a = np.arange(5)
    for sl in [slice(2, 10**30, -1), slice(-10**30, None, -1),
               slice(2, 2**63 - 1, -1), slice(-10**30, 3),
               slice(None, -10**30, -1), slice(10**30, None, -1)]:
        assert mx.array(a)[sl].tolist() == a[sl].tolist()
    x = mx.array(a)
    x[2:10**30:-1] = 7  # selects nothing
    assert x.tolist() == a.tolist()
    x[mx.array(a > 10)] = mx.array(np.zeros((0,), np.int64))
    assert x.tolist() == a.tolist()


def test_assignment_into_pending_arrays():
    # a pending x (lazy work, or a trace) aligns the value to the block by
    # expand_dims and broadcasts it against the block: same results as
    # an evaluated x
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 5, 3)).astype(np.float32)
    cases = [
        ((slice(1, None),), 0.0), ((0,), 2.0), ((-1, slice(None), 1), 3.0),
        ((slice(None), 2), np.arange(3, dtype=np.float32)),
        ((Ellipsis, 0), np.ones((4, 5), np.float32)), ((None, 1), 9.0),
        ((slice(None, None, -2), slice(1, 4)), np.arange(3, dtype=np.float32)),
        ((1, slice(None), None), np.ones((5, 1, 3), np.float32)),
        ((slice(0, 2), 0, slice(None)), np.ones((1, 1, 3), np.float32)),
    ]
    for key, v in cases:
        k2 = key[1:] if key[0] is None else key
        vv = np.asarray(v, np.float32)
        while vv.ndim > a[k2].ndim and vv.shape[0] == 1:
            vv = vv[0]
        for op in ["set", "add"]:
            want = a.copy()
            if op == "set":
                want[k2] = vv
            else:
                want[k2] += vv
            for lazy in [False, True]:
                x = mx.array(a) * 1 if lazy else mx.array(a)
                u = mx.array(v) if isinstance(v, np.ndarray) else v
                if op == "set":
                    x[key] = u
                else:
                    x[key] += u
                np.testing.assert_allclose(np.array(x), want, rtol=1e-6)


def test_kiln_index_arrays_are_clamped_not_checked():
    # as kiln_take (and MLX): out-of-range kiln.array indices never read
    # out of bounds
    x = mx.array([10, 20, 30])
    assert x[mx.array([5])].tolist() == [30]


def test_getitem_does_not_change_the_array():
    n = base()
    x = mx.array(n)
    x[1:3, [0, 1]]
    x[None, ..., 2]
    np.testing.assert_array_equal(np.array(x), n)


# ------------------------------------------------------------------
# setitem
# ------------------------------------------------------------------

def test_basic_assignment_casts_and_broadcasts():
    n = np.zeros((3, 4), np.float32)
    x = mx.array(n)
    x[1] = 5
    x[:, 2] = mx.array([1, 2, 3])          # int array cast to float32
    x[0, ::-2] = 1.5
    x[2, 1:3] = mx.array([[7, 8]])          # leading 1 dropped
    x[None, 0, 0] = 9
    n[1] = 5
    n[:, 2] = [1, 2, 3]
    n[0, ::-2] = 1.5
    n[2, 1:3] = np.array([[7, 8]])
    n[None, 0, 0] = 9
    assert x.dtype == mx.float32
    np.testing.assert_array_equal(np.array(x), n)
    i = mx.array([1, 2, 3], dtype=mx.int8)
    i[0] = 2.7                               # truncates, as a cast
    assert i.tolist() == [2, 2, 3] and i.dtype == mx.int8


def test_whole_array_assignment():
    x = mx.array([[1, 2], [3, 4]])
    x[...] = 0
    assert x.tolist() == [[0, 0], [0, 0]]
    x[:] = mx.array([5, 6])
    assert x.tolist() == [[5, 6], [5, 6]]
    z = mx.array(1.0)
    z[()] = 3
    assert z.item() == 3.0 and z.shape == ()


def test_sliced_inplace_operators():
    n = np.arange(10, dtype=np.float32)
    x = mx.array(n)
    x[1:3] += 5
    x[::3] *= 2
    x[-2:] -= mx.array([1, 1])
    n[1:3] += 5
    n[::3] *= 2
    n[-2:] -= 1
    np.testing.assert_array_equal(np.array(x), n)


def test_assignment_through_arrays():
    n = np.zeros((4, 3), np.int32)
    x = mx.array(n)
    x[[0, 2]] = mx.array([[1, 2, 3], [4, 5, 6]])
    x[mx.array([1, -1]), 1] = 9
    x[:, [2, 0]] = -1
    n[[0, 2]] = [[1, 2, 3], [4, 5, 6]]
    n[[1, -1], 1] = 9
    n[:, [2, 0]] = -1
    np.testing.assert_array_equal(np.array(x), n)
    # repeated indices: the last update wins, as numpy does
    y = mx.array([0, 0, 0])
    y[mx.array([1, 1, 1])] = mx.array([4, 5, 6])
    assert y.tolist() == [0, 6, 0]


def test_assignment_errors_leave_the_array_unchanged():
    x = mx.array([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(ValueError):
        x[0] = mx.array([1, 2])
    with pytest.raises(IndexError):
        x[2] = 1
    with pytest.raises(IndexError):
        x[[0], [5]] = 1
    with pytest.raises(TypeError):
        x[0] = "a"
    with pytest.raises(TypeError):
        del x[0]
    with pytest.raises(ValueError):
        x[mx.array([True, False, True])] = 1  # a mask of the wrong shape
    with pytest.raises(ValueError):
        mx.array([1, 2], dtype=mx.int8)[0] = 1000
    assert x.tolist() == [[1, 2, 3], [4, 5, 6]]


def test_assignment_is_seen_through_every_reference():
    x = mx.array([1, 2, 3])
    y = x
    x[0] = 7
    assert y.tolist() == [7, 2, 3]


# ------------------------------------------------------------------
# x.at
# ------------------------------------------------------------------

@pytest.mark.parametrize("name,ufunc", [
    ("add", np.add), ("subtract", np.subtract),
    ("multiply", np.multiply), ("maximum", np.maximum),
    ("minimum", np.minimum),
])
def test_at_accumulates_repeated_indices(name, ufunc):
    rng = np.random.default_rng(2)
    n = rng.integers(-5, 6, size=(5, 4)).astype(np.float32)
    v = rng.integers(-3, 4, size=(6, 4)).astype(np.float32)
    idx = np.array([0, 2, 0, 4, 2, 0])
    want = n.copy()
    ufunc.at(want, idx, v)
    x = mx.array(n)
    got = getattr(x.at[mx.array(idx)], name)(mx.array(v))
    np.testing.assert_array_equal(np.array(got), want)
    np.testing.assert_array_equal(np.array(x), n)  # x unchanged
    # with a slice and an int mixed in
    want = n.copy()
    ufunc.at(want, (idx[:3], slice(1, 3)), v[:3, 1:3])
    got = getattr(x.at[idx[:3].tolist(), 1:3], name)(mx.array(v[:3, 1:3]))
    np.testing.assert_array_equal(np.array(got), want)
    want = n.copy()
    ufunc.at(want, (1, slice(None, None, -1)), v[0])
    got = getattr(x.at[1, ::-1], name)(mx.array(v[0]))
    np.testing.assert_array_equal(np.array(got), want)


def test_at_divide_and_scalar_updates():
    x = mx.array([8.0, 8.0, 8.0])
    assert x.at[mx.array([0, 0, 2])].divide(2.0).tolist() == [2.0, 8.0, 4.0]
    assert x.at[1:].add(1).tolist() == [8.0, 9.0, 9.0]
    a = mx.array([0, 0])
    assert a.at[mx.array([0, 1, 0, 1])].add(1).tolist() == [2, 2]
    a[mx.array([0, 1, 0, 1])] += 1
    assert a.tolist() == [1, 1]
    with pytest.raises(IndexError):
        x.at.add(1)
    # a position every update hits keeps its own value in the reduction
    m = mx.array([5.0, 0.0])
    assert m.at[mx.array([0, 0])].maximum(mx.array([1.0, 2.0])).tolist() \
        == [5.0, 0.0]
    assert m.at[mx.array([1, 1])].minimum(mx.array([1.0, 2.0])).tolist() \
        == [5.0, 0.0]


def test_a_view_past_the_dimension_limit_is_an_index_error():
    # reading, assigning and x.at all compute the view's shape the same
    # way (index.c's pk_ix_view_shape) and refuse past 16 dims alike
    x = mx.zeros((1,) * 16)
    idx = np.zeros((1, 1), dtype=np.int64)
    with pytest.raises(IndexError, match="more than 16 dimensions"):
        x[idx]
    with pytest.raises(IndexError, match="more than 16 dimensions"):
        x[idx] = 1.0
    with pytest.raises(IndexError, match="more than 16 dimensions"):
        x.at[idx].add(1.0)
    assert x.shape == (1,) * 16
