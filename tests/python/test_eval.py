"""eval, async_eval and export_to_dot over trees, and the memory figures of
the buffer pool."""
import collections
import io
import pathlib

import numpy as np
import pytest

import kiln as mx

MB = 1 << 20
NF = MB // 4  # float32 elements in 1 MiB
SLACK = 4096  # small buffers that come and go around a measurement


def big():
    """A fresh evaluated 1 MiB float32 array (a copy of numpy data)."""
    return mx.array(np.ones(NF, np.float32))


def lazy(x):
    """An unevaluated array computed from x (its buffer does not exist)."""
    return mx.multiply(x, 2.0)


# ------------------------------------------------------------ eval


def test_eval_computes_values_and_returns_none():
    x = mx.array([1.0, 2.0, 3.0])
    y = mx.exp(x)
    assert mx.eval(y) is None
    np.testing.assert_allclose(np.array(y), np.exp([1.0, 2.0, 3.0]),
                               rtol=1e-6)


def test_eval_allocates_the_results_of_a_nested_tree():
    x = big()
    ys = [lazy(x) for _ in range(4)]
    tree = {"a": ys[0], "b": [ys[1], (ys[2], "text", 3, None)],
            "c": collections.OrderedDict(d=ys[3])}
    before = mx.get_active_memory()
    mx.eval(tree, 1.5, None)
    # (small buffers, such as the scalar 2.0s, are freed meanwhile)
    assert mx.get_active_memory() - before >= 4 * MB - SLACK
    for y in ys:
        assert np.array(y)[0] == 2.0
    # evaluating again computes nothing new
    now = mx.get_active_memory()
    mx.eval(tree)
    assert mx.get_active_memory() == now


def test_eval_many_arguments_and_namedtuples():
    P = collections.namedtuple("P", "w b")
    x = mx.array([1.0, 2.0])
    p = P(mx.add(x, 1.0), mx.subtract(x, 1.0))
    mx.eval(p, [mx.negative(x)], ())
    assert np.array(p.w).tolist() == [2.0, 3.0]
    assert np.array(p.b).tolist() == [0.0, 1.0]


def test_eval_of_nothing_and_of_non_arrays():
    assert mx.eval() is None
    assert mx.eval([], {}, (), 1, "s", None, object()) is None


def test_eval_shared_work_runs_once():
    x = mx.array(np.arange(6, dtype=np.float32))
    s = mx.exp(x)
    y, z = mx.add(s, 1.0), mx.multiply(s, 2.0)
    mx.eval(y, z)
    np.testing.assert_allclose(np.array(y), np.exp(np.arange(6)) + 1,
                               rtol=1e-6)
    np.testing.assert_allclose(np.array(z), np.exp(np.arange(6)) * 2,
                               rtol=1e-6)


def test_async_eval_evaluates_now():
    x = big()
    y = lazy(x)
    before = mx.get_active_memory()
    assert mx.async_eval([y]) is None
    assert mx.get_active_memory() - before >= MB - SLACK
    z = mx.add(y, 3.0)
    mx.async_eval(z)
    assert np.array(z)[0] == 5.0


def test_eval_from_threads():
    import threading
    errors = []

    def work(i):
        try:
            for _ in range(20):
                x = mx.array(np.full(1000, float(i), np.float32))
                y = mx.add(mx.multiply(x, 2.0), 1.0)
                mx.eval([y])
                assert np.array(y)[0] == 2 * i + 1
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


def test_eval_rejects_keywords():
    with pytest.raises(TypeError):
        mx.eval(x=mx.array(1.0))


# ---------------------------------------------------- export_to_dot


def test_export_to_dot_to_a_file_like_object():
    x = mx.array([1.0, 2.0])
    y = mx.exp(mx.add(x, 1.0))
    f = io.StringIO()
    assert mx.export_to_dot(f, y) is None
    text = f.getvalue()
    assert text.startswith("digraph") and text.rstrip().endswith("}")
    assert "->" in text


def test_export_to_dot_to_a_path_with_trees(tmp_path):
    x = mx.array([1.0, 2.0])
    tree = {"a": [mx.exp(x)], "b": (mx.sin(x), "label")}
    p = tmp_path / "g.dot"
    mx.export_to_dot(str(p), tree, mx.cos(x))
    text = p.read_text()
    assert text.startswith("digraph")
    # three results, each named in the graph
    assert text.count("result") >= 3
    p2 = tmp_path / "g2.dot"
    mx.export_to_dot(p2, y=mx.exp(x))  # os.PathLike; keyword arrays
    assert pathlib.Path(p2).read_text().startswith("digraph")
    mx.export_to_dot(file=str(p2))  # no arrays: an empty graph
    assert pathlib.Path(p2).read_text().startswith("digraph")


def test_export_to_dot_errors(tmp_path):
    with pytest.raises(ValueError):
        mx.export_to_dot(3, mx.array(1.0))
    with pytest.raises(TypeError):
        mx.export_to_dot()
    with pytest.raises(OSError):
        mx.export_to_dot(str(tmp_path / "no" / "such" / "dir.dot"),
                         mx.array(1.0))

    class Bad:
        def write(self, s):
            raise KeyError("nope")

    with pytest.raises(KeyError):
        mx.export_to_dot(Bad(), mx.array(1.0))


# ----------------------------------------------------------- memory


def test_active_memory_follows_buffers():
    before = mx.get_active_memory()
    x = big()
    mx.eval(x)
    held = mx.get_active_memory()
    assert held - before >= MB - SLACK
    assert mx.get_peak_memory() >= held
    del x
    assert mx.get_active_memory() <= held - MB + SLACK


def test_peak_memory_and_reset():
    mx.reset_peak_memory()
    base = mx.get_peak_memory()
    assert base == mx.get_active_memory()
    xs = [big() for _ in range(3)]
    assert mx.get_peak_memory() >= base + 3 * MB
    del xs
    peak = mx.get_peak_memory()
    assert peak >= base + 3 * MB
    mx.reset_peak_memory()
    assert mx.get_peak_memory() < peak


def test_cache_memory_limit_and_clear():
    old = mx.set_cache_limit(1 << 30)
    try:
        x = big()
        mx.eval(x)
        mx.clear_cache()
        assert mx.get_cache_memory() == 0
        del x  # its buffer goes back to the pool
        assert mx.get_cache_memory() >= MB
        mx.clear_cache()
        assert mx.get_cache_memory() == 0
        # a cap of 0 disables the cache
        assert mx.set_cache_limit(0) == 1 << 30
        x = big()
        del x
        assert mx.get_cache_memory() == 0
    finally:
        mx.set_cache_limit(old)


def test_memory_and_wired_limits_round_trip():
    first = mx.set_memory_limit(1 << 33)
    assert first > 0
    assert mx.get_memory_limit() == 1 << 33
    assert mx.set_memory_limit(first) == 1 << 33
    assert mx.get_memory_limit() == first
    assert mx.set_memory_limit(limit=0) == first  # 0: back to the default
    w = mx.set_wired_limit(123)
    assert mx.set_wired_limit(w) == 123


@pytest.mark.parametrize("fn", ["set_cache_limit", "set_memory_limit",
                                "set_wired_limit"])
def test_limit_errors(fn):
    f = getattr(mx, fn)
    with pytest.raises(ValueError):
        f(-1)
    with pytest.raises(ValueError):
        f(2**70)
    with pytest.raises(TypeError):
        f("1")
    with pytest.raises(TypeError):
        f(1.0)
    with pytest.raises(TypeError):
        f()
