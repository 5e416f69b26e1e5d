"""kiln.random: keys, the global key sequence (kiln.random.state), and
samplers, with numpy as the oracle for ranges and moments."""
import math
import threading

import numpy as np
import pytest

import kiln as mx

N = 20000  # samples for moment checks: 4-5 sigma bounds below


def a(x):
    return np.array(x)


def key(s):
    return mx.random.key(s)


# ------------------------------------------------------------------ keys


def test_key_is_two_uint32_words_of_the_seed():
    k = key(0x0123456789ABCDEF)
    assert k.shape == (2,) and k.dtype == mx.uint32
    assert a(k).tolist() == [0x01234567, 0x89ABCDEF]
    assert a(key(0)).tolist() == [0, 0]
    assert a(key(2**64 - 1)).tolist() == [2**32 - 1, 2**32 - 1]


@pytest.mark.parametrize("bad,exc", [(-1, ValueError), (2**64, ValueError),
                                     (1.5, TypeError), ("1", TypeError),
                                     (None, TypeError)])
def test_key_and_seed_reject_bad_seeds(bad, exc):
    with pytest.raises(exc):
        mx.random.key(bad)
    with pytest.raises(exc):
        mx.random.seed(bad)


def test_split():
    k = key(7)
    ks = mx.random.split(k)
    assert ks.shape == (2, 2) and ks.dtype == mx.uint32
    np.testing.assert_array_equal(a(ks), a(mx.random.split(k, 2)))
    k3 = a(mx.random.split(k, num=3))
    assert k3.shape == (3, 2)
    assert len({tuple(r) for r in k3}) == 3
    assert mx.random.split(k, 0).shape == (0, 2)
    with pytest.raises(ValueError):
        mx.random.split(k, -1)
    with pytest.raises(ValueError):
        mx.random.split(mx.array([1, 2, 3], dtype=mx.uint32))
    with pytest.raises(TypeError):
        mx.random.split(mx.array([1.0, 2.0]))


# ------------------------------------------------------------ state


def test_state_is_a_list_of_one_key():
    st = mx.random.state
    assert isinstance(st, list) and len(st) == 1
    assert st[0].shape == (2,) and st[0].dtype == mx.uint32
    import kiln.random as kr
    assert kr.state is st


def test_seed_sets_state_zero_in_place():
    st = mx.random.state
    mx.random.seed(42)
    assert mx.random.state is st
    np.testing.assert_array_equal(a(st[0]), a(key(42)))


def test_seed_makes_draws_repeat():
    mx.random.seed(3)
    x = [a(mx.random.uniform(shape=(5,))), a(mx.random.normal((5,))),
         a(mx.random.randint(0, 100, (5,)))]
    mx.random.seed(3)
    y = [a(mx.random.uniform(shape=(5,))), a(mx.random.normal((5,))),
         a(mx.random.randint(0, 100, (5,)))]
    for u, v in zip(x, y):
        np.testing.assert_array_equal(u, v)
    mx.random.seed(4)
    assert not np.array_equal(a(mx.random.uniform(shape=(5,))), x[0])


def test_state_advances_as_split_next_sub():
    mx.random.seed(11)
    k0 = mx.random.state[0]
    nxt, sub = a(mx.random.split(k0))
    x = a(mx.random.uniform(shape=(4,)))
    np.testing.assert_array_equal(a(mx.random.state[0]), nxt)
    y = a(mx.random.uniform(shape=(4,), key=mx.array(sub)))
    np.testing.assert_array_equal(x, y)
    # two draws differ; an explicit key leaves the state alone
    z = a(mx.random.uniform(shape=(4,)))
    assert not np.array_equal(x, z)
    s = a(mx.random.state[0])
    mx.random.uniform(shape=(4,), key=key(1))
    np.testing.assert_array_equal(a(mx.random.state[0]), s)


def test_state_holding_a_pending_key_splits_lazily():
    # what compile does: state[0] replaced by an unevaluated key
    mx.random.state[0] = mx.add(key(5), mx.array([0, 0], dtype=mx.uint32))
    x = a(mx.random.uniform(shape=(3,)))
    nxt, sub = a(mx.random.split(key(5)))
    y = a(mx.random.uniform(shape=(3,), key=mx.array(sub)))
    np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a(mx.random.state[0]), nxt)


def test_every_sampler_advances_the_state():
    calls = [
        lambda: mx.random.uniform(),
        lambda: mx.random.normal(),
        lambda: mx.random.randint(0, 4),
        lambda: mx.random.bernoulli(),
        lambda: mx.random.truncated_normal(-1, 1),
        lambda: mx.random.categorical(mx.array([0.0, 1.0])),
        lambda: mx.random.gumbel(),
        lambda: mx.random.laplace(),
        lambda: mx.random.permutation(4),
    ]
    for f in calls:
        before = a(mx.random.state[0])
        f()
        assert not np.array_equal(a(mx.random.state[0]), before)


def test_broken_state_raises():
    st = mx.random.state
    saved = st[0]
    try:
        st[0] = "not a key"
        with pytest.raises(ValueError):
            mx.random.uniform()
        st.clear()
        with pytest.raises(ValueError):
            mx.random.normal()
    finally:
        st[:] = [saved]
    mx.random.uniform()


def test_threads_draw_distinct_keys():
    mx.random.seed(0)
    out = []
    lock = threading.Lock()

    def work():
        rows = [tuple(a(mx.random.randint(0, 2**30, (4,))).tolist())
                for _ in range(50)]
        with lock:
            out.extend(rows)

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(out) == 200 and len(set(out)) == 200


def test_initial_state_differs_between_processes():
    import subprocess
    import sys
    code = "import kiln; import numpy as np; " \
           "print(np.array(kiln.random.state[0]).tolist())"
    runs = set()
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True,
                           text=True, check=True)
        runs.add(r.stdout)
        import time
        time.sleep(0.01)
    assert len(runs) == 2  # seeded from the clock (milliseconds), as MLX


# --------------------------------------------------------- uniform


@pytest.mark.parametrize("dt", [mx.float16, mx.bfloat16, mx.float32,
                                mx.float64])
def test_uniform_dtypes_and_range(dt):
    x = mx.random.uniform(shape=(N,), dtype=dt, key=key(1))
    assert x.dtype == dt and x.shape == (N,)
    # bfloat16 reaches numpy through float32 (exact)
    v = a(mx.multiply(x, mx.array(1.0))).astype(np.float64)
    assert v.min() >= 0.0 and v.max() < 1.0
    assert abs(v.mean() - 0.5) < 0.01
    assert abs(v.var() - 1 / 12) < 0.005


def test_uniform_defaults_and_bounds():
    x = mx.random.uniform(key=key(0))
    assert x.shape == () and x.dtype == mx.float32
    x = a(mx.random.uniform(-3, 5, (N,), key=key(2)))
    assert x.min() >= -3 and x.max() < 5
    assert abs(x.mean() - 1.0) < 0.1
    assert abs(x.std() - 8 / math.sqrt(12)) < 0.05
    # array bounds broadcast into the shape
    lo = mx.array([[0.0], [10.0], [20.0]])
    x = a(mx.random.uniform(lo, mx.add(lo, 1.0), (3, 1000), key=key(3)))
    for i in range(3):
        assert x[i].min() >= 10 * i and x[i].max() < 10 * i + 1
    x = a(mx.random.uniform(low=2, high=2.5, shape=[4], key=key(3)))
    assert ((x >= 2) & (x < 2.5)).all()


def test_uniform_same_key_same_values():
    x = a(mx.random.uniform(shape=(3, 4), key=key(9)))
    y = a(mx.random.uniform(shape=(3, 4), key=key(9)))
    z = a(mx.random.uniform(shape=(3, 4), key=key(10)))
    np.testing.assert_array_equal(x, y)
    assert not np.array_equal(x, z)


def test_uniform_errors():
    with pytest.raises(ValueError):
        mx.random.uniform(dtype=mx.int32)
    with pytest.raises(ValueError):
        mx.random.uniform(mx.zeros((5,)), 1, (3,))
    with pytest.raises(ValueError):
        mx.random.uniform(shape=(-1,))
    with pytest.raises(TypeError):
        mx.random.uniform(shape=("a",))
    with pytest.raises(TypeError):
        mx.random.uniform(dtype="float32")
    with pytest.raises(TypeError):
        mx.random.uniform(shape=(2,), key=mx.array([1.0, 2.0]))
    with pytest.raises(ValueError):
        mx.random.uniform(shape=(2,), key=mx.zeros((3,), dtype=mx.uint32))


# ---------------------------------------------------------- normal


@pytest.mark.parametrize("dt", [mx.float16, mx.float32, mx.float64])
def test_normal_moments(dt):
    x = mx.random.normal((N,), dtype=dt, key=key(4))
    assert x.dtype == dt
    v = a(x).astype(np.float64)
    assert np.isfinite(v).all()
    assert abs(v.mean()) < 0.04 and abs(v.std() - 1) < 0.03


def test_normal_loc_scale_and_shape():
    x = mx.random.normal(shape=(100, 200), loc=3.0, scale=2.0, key=key(5))
    assert x.shape == (100, 200) and x.dtype == mx.float32
    v = a(x)
    assert abs(v.mean() - 3) < 0.08 and abs(v.std() - 2) < 0.06
    assert mx.random.normal().shape == ()
    assert mx.random.normal(dtype=None).dtype == mx.float32
    with pytest.raises(ValueError):
        mx.random.normal((2,), dtype=mx.int32)
    with pytest.raises(TypeError):
        mx.random.normal((2,), loc="a")


# --------------------------------------------------------- randint


@pytest.mark.parametrize("dt", [mx.int8, mx.uint8, mx.int16, mx.uint16,
                                mx.int32, mx.uint32, mx.int64, mx.uint64])
def test_randint_dtypes_and_range(dt):
    x = mx.random.randint(3, 100, (N,), dtype=dt, key=key(6))
    assert x.dtype == dt
    v = a(x).astype(np.int64)
    assert v.min() == 3 and v.max() == 99
    assert abs(v.mean() - 51) < 1.0
    counts = np.bincount(v)[3:]
    assert counts.min() > 0.5 * N / 97


def test_randint_defaults_negative_and_array_bounds():
    x = mx.random.randint(-5, 5, key=key(0))
    assert x.shape == () and x.dtype == mx.int32
    v = a(mx.random.randint(-5, 5, [N], key=key(7)))
    assert v.min() == -5 and v.max() == 4
    hi = mx.array([1, 10, 100])
    v = a(mx.random.randint(0, hi, (500, 3), key=key(8)))
    assert (v >= 0).all() and (v < np.array([1, 10, 100])).all()
    assert v[:, 0].max() == 0 and v[:, 2].max() > 50
    # an empty range gives low, as in MLX
    v = a(mx.random.randint(5, 5, (4,), key=key(1)))
    assert (v == 5).all()
    big = a(mx.random.randint(0, 2**40, (1000,), dtype=mx.int64, key=key(2)))
    assert big.max() > 2**32 and big.max() < 2**40


def test_randint_errors():
    with pytest.raises(ValueError):
        mx.random.randint(0, 1, (2,), dtype=mx.float32)
    with pytest.raises(TypeError):
        mx.random.randint(0)
    with pytest.raises(ValueError):
        mx.random.randint(mx.zeros((4,), mx.int32), 5, (3,))


# ------------------------------------------------------- bernoulli


def test_bernoulli():
    x = mx.random.bernoulli(key=key(0))
    assert x.shape == () and x.dtype == mx.bool_
    v = a(mx.random.bernoulli(0.3, (N,), key=key(1)))
    assert v.dtype == np.bool_ and abs(v.mean() - 0.3) < 0.015
    p = mx.array([0.0, 0.25, 1.0])
    v = a(mx.random.bernoulli(p, key=key(2)))
    assert v.shape == (3,) and not v[0] and v[2]
    v = a(mx.random.bernoulli(p, (N, 3), key=key(3)))
    np.testing.assert_allclose(v.mean(axis=0), [0, 0.25, 1], atol=0.015)
    assert mx.random.bernoulli(0.5, [], key=key(3)).shape == ()
    with pytest.raises(ValueError):
        mx.random.bernoulli(p, (4,), key=key(3))


# ------------------------------------------------ truncated_normal


def _truncnorm_mean(lo, hi):
    pdf = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa
    cdf = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa
    return (pdf(lo) - pdf(hi)) / (cdf(hi) - cdf(lo))


def test_truncated_normal():
    x = mx.random.truncated_normal(-1, 2, (N,), key=key(4))
    assert x.dtype == mx.float32
    v = a(x)
    assert v.min() >= -1 and v.max() <= 2
    assert abs(v.mean() - _truncnorm_mean(-1, 2)) < 0.02
    lo, hi = mx.array([-2.0, 0.0]), mx.array([[0.0], [3.0]])
    x = mx.random.truncated_normal(lo, hi, key=key(5))
    assert x.shape == (2, 2)
    x = mx.random.truncated_normal(0.5, 1.0, dtype=mx.float16, key=key(6))
    assert x.shape == () and x.dtype == mx.float16
    assert 0.5 <= float(a(x)) <= 1.0
    with pytest.raises(ValueError):
        mx.random.truncated_normal(0, 1, dtype=mx.int32)
    with pytest.raises(ValueError):
        mx.random.truncated_normal(mx.zeros((3,)), 1, (2,))


# ----------------------------------------------------- categorical


def test_categorical_frequencies_match_softmax():
    logits = np.log(np.array([0.1, 0.2, 0.7], np.float32))
    x = mx.random.categorical(mx.array(logits), shape=(N,), key=key(7))
    assert x.shape == (N,) and x.dtype == mx.uint32
    freq = np.bincount(a(x), minlength=3) / N
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.7], atol=0.015)


def test_categorical_shapes_and_axes():
    logits = mx.array(np.log(np.array([[0.5, 0.5, 1e-9], [1e-9, 1e-9, 1.0]],
                                      np.float32)))
    x = a(mx.random.categorical(logits, key=key(8)))
    assert x.shape == (2,) and x[0] in (0, 1) and x[1] == 2
    x = a(mx.random.categorical(logits, num_samples=50, key=key(9)))
    assert x.shape == (2, 50)
    assert set(x[0]) <= {0, 1} and (x[1] == 2).all()
    x = a(mx.random.categorical(logits, shape=(7, 2), key=key(9)))
    assert x.shape == (7, 2) and (x[:, 1] == 2).all()
    # axis 0: distributions along the columns
    x = a(mx.random.categorical(mx.array([[0.0, -1e9], [-1e9, 0.0]]), axis=0,
                                key=key(1)))
    assert x.tolist() == [0, 1]
    with pytest.raises(ValueError):
        mx.random.categorical(logits, shape=(2,), num_samples=3)
    with pytest.raises(ValueError):
        mx.random.categorical(logits, shape=(3,))
    with pytest.raises(ValueError):
        mx.random.categorical(logits, axis=2)
    with pytest.raises(ValueError):
        mx.random.categorical(logits, axis=5, num_samples=2)


# ----------------------------------------- gumbel, laplace, permutation


def test_gumbel_moments():
    x = mx.random.gumbel((N,), key=key(10))
    assert x.dtype == mx.float32
    v = a(x)
    assert np.isfinite(v).all()
    assert abs(v.mean() - 0.5772) < 0.04
    assert abs(v.var() - math.pi ** 2 / 6) < 0.1
    assert mx.random.gumbel(dtype=mx.float16, key=key(1)).dtype == mx.float16
    with pytest.raises(ValueError):
        mx.random.gumbel(dtype=mx.int8)


def test_laplace_moments():
    x = mx.random.laplace((N,), loc=1.0, scale=2.0, key=key(11))
    v = a(x)
    assert np.isfinite(v).all()
    assert abs(np.median(v) - 1.0) < 0.1
    assert abs(v.var() - 8.0) < 0.6
    v = a(mx.random.laplace((N,), dtype=mx.float16, key=key(12)))
    assert np.isfinite(v).all()


def test_permutation():
    p = mx.random.permutation(10, key=key(1))
    assert p.dtype == mx.int32 and p.shape == (10,)
    v = a(p)
    assert sorted(v.tolist()) == list(range(10))
    assert v.tolist() != list(range(10))
    np.testing.assert_array_equal(v, a(mx.random.permutation(10, key=key(1))))
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    y = a(mx.random.permutation(mx.array(x), key=key(2)))
    assert sorted(map(tuple, y.tolist())) == sorted(map(tuple, x.tolist()))
    y = a(mx.random.permutation(mx.array(x), axis=1, key=key(3)))
    assert y.shape == (3, 4)
    assert (np.sort(y, axis=1) == x).all()
    assert mx.random.permutation(0).shape == (0,)
    with pytest.raises(ValueError):
        mx.random.permutation(-1)
    with pytest.raises(ValueError):
        mx.random.permutation(mx.array(x), axis=2)


# ------------------------------------------------ compile capture


def test_compile_captures_the_state_as_inputs_and_outputs():
    from functools import partial
    st = [mx.random.state]

    @partial(mx.compile, inputs=st, outputs=st)
    def f(x):
        return mx.add(x, mx.random.uniform(shape=(3,)))

    z = mx.zeros((3,))
    mx.random.seed(0)
    got = [a(f(z)) for _ in range(3)]
    end = a(mx.random.state[0])
    mx.random.seed(0)
    want = [a(mx.random.uniform(shape=(3,))) for _ in range(3)]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(end, a(mx.random.state[0]))
    assert mx.random.state[0].dtype == mx.uint32
    assert mx.random.state[0].shape == (2,)


def test_normal_with_array_loc_and_scale():
    k = mx.random.key(0)
    z = np.array(mx.random.normal((2, 3), key=k))
    loc = np.array([100.0, 0.0, -100.0], np.float32)
    y = mx.random.normal((2, 3), loc=mx.array(loc), scale=mx.array(0.01),
                         key=k)
    assert y.shape == (2, 3)
    np.testing.assert_allclose(np.array(y), z * np.float32(0.01) + loc,
                               rtol=1e-6)
    # no shape: the samples' () broadcast against loc, as MLX
    y = mx.random.normal(loc=mx.zeros((3,)), key=k)
    assert y.shape == (3,) and len(set(np.array(y).tolist())) == 1
    s = mx.random.normal((3,), loc=1.0, scale=mx.array([1.0, 2.0, 3.0]),
                         key=k)
    np.testing.assert_allclose(
        np.array(s), np.array(mx.random.normal((3,), key=k)) *
        np.array([1.0, 2.0, 3.0], np.float32) + 1, rtol=1e-6)
    assert mx.random.normal((2,), dtype=mx.float16,
                            loc=mx.array([1.0, 2.0]), key=k).dtype == \
        mx.float16
    with pytest.raises(ValueError):
        mx.random.normal((2,), loc=mx.zeros((3,)), key=k)


def test_laplace_follows_mlx_orientation():
    # MLX's formula sign(u) * log1p(-|u|) * scale + loc on the key's
    # uniform draws in (-1, 1), so a key gives MLX's samples
    k = mx.random.key(1)
    u = np.array(mx.random.uniform(-1 + 2.0**-24, 1, (64,), key=k),
                 np.float64)
    want = np.sign(u) * np.log1p(-np.abs(u)) * 2.0 + 0.5
    got = np.array(mx.random.laplace((64,), loc=0.5, scale=2.0, key=k))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
