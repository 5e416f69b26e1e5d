"""No input from Python crashes the interpreter (issue 5, item 6).

A deterministic fuzz calls every public callable of kiln (module functions,
kiln.random, the types, kiln.array's methods, operators and indexing, the
compile/grad/vmap/vjp/jvp wrappers and the functions they return) with
hostile arguments: None, strings, bytes, floats for ints, huge ints, NaN and
inf, ragged, deep and self-referential lists, dicts, objects whose
__index__/__len__/__iter__/__array__ raise or lie, 0-d and size-0 arrays of
every dtype, numpy arrays with odd strides and byte orders, memoryviews,
huge shapes, bad axes, wrong keywords, wrong arities, and Python functions
that raise, return junk, recurse, mutate their arguments or leak their
placeholders. Every call must return or raise an Exception; a SystemError
(an extension returning NULL without an exception, or a value with one
set) counts as a failure too.

Each batch runs in a subprocess (this file run as a script, `python
test_robustness.py BATCH`), so a segfault or an abort fails one test and
prints the case that crashed instead of killing pytest. The child writes
each case's description before running it; the parent shows the last ones
when the child dies or hangs. The child runs with PYTHONMALLOC=debug
(catches buffer overruns and use-after-free of Python memory), KILN_JIT=0
(the interpreter runs compiled graphs: no C compiler per case) and an
address-space limit, so huge allocations fail instead of swapping.

The same script runs under AddressSanitizer by hand (see the end of the
file for the command); FUZZ_NO_RLIMIT=1 skips the address-space limit,
which ASan's shadow memory cannot live with.
"""
import gc
import os
import random
import subprocess
import sys
import tracemalloc

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20240605
BATCHES = ["construct", "module_a", "module_b", "module_c", "mutate_a",
           "mutate_b", "mutate_c", "kwargs",
           "random", "array", "index", "transforms", "types", "state",
           "huge", "threads"]


# ----------------------------------------------------------------------
# the parent: pytest
# ----------------------------------------------------------------------

def batch_env():
    """The children's environment. Built on the main thread, before any
    batch starts: pytest sets and unsets PYTEST_CURRENT_TEST in os.environ
    around every test, and copying os.environ on a worker thread meanwhile
    raised KeyError (a CI run)."""
    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)
    env.setdefault("PYTHONMALLOC", "debug")
    env["PYTHONFAULTHANDLER"] = "1"
    env["KILN_JIT"] = "0"
    env.pop("KILN_LOG", None)
    return env


def run_batch(name, env, timeout=120):
    p = subprocess.Popen([sys.executable, os.path.join(HERE, __file__),
                          name], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, text=True,
                         errors="replace")
    try:
        out, err = p.communicate(timeout=timeout)
        hung = False
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        hung = True
    lines = out.splitlines()
    cases = [l[5:] for l in lines if l.startswith("CASE ")]
    bad = [l[4:] for l in lines if l.startswith("BAD ")]
    done = any(l.startswith("DONE ") for l in lines)
    if hung or p.returncode != 0 or not done:
        what = "hung" if hung else "died with status %d" % p.returncode
        return None, ("batch %s %s after %d cases; last cases:\n  %s\n"
                      "stderr:\n%s" % (name, what, len(cases),
                                       "\n  ".join(cases[-5:]),
                                       err[-4000:]))
    return bad, lines


_runs = {}


def _batch_result(batch):
    """Starts every batch at the first request, as many at once as there
    are CPUs (each is a separate process), and waits for this one."""
    if not _runs:
        from concurrent.futures import ThreadPoolExecutor
        pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
        env = batch_env()
        for b in BATCHES:
            _runs[b] = pool.submit(run_batch, b, env)
        pool.shutdown(wait=False)
    return _runs[batch].result()


@pytest.mark.parametrize("batch", BATCHES)
def test_fuzz_batch(batch):
    bad, info = _batch_result(batch)
    if bad is None:
        pytest.fail(info)
    assert not bad, "wrong exceptions:\n" + "\n".join(bad[:40])


# ----------------------------------------------------------------------
# reference leaks on error paths (in process)
# ----------------------------------------------------------------------

def _malloc_in_use():
    """Bytes the C heap has handed out (glibc's mallinfo2), which counts
    kiln's own structures; None where it is unavailable."""
    import ctypes

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
            "fsmblks", "uordblks", "fordblks", "keepcost")]
    try:
        f = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    f.restype = Mallinfo2
    m = f()
    return m.uordblks + m.hblkhd


def _failing_calls():
    import numpy as np
    import kiln as mx
    a = mx.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    i = mx.array([0, 5])
    f = mx.compile(lambda x: x * 2)
    g = mx.grad(lambda x: (x * x).sum())
    v = mx.vmap(lambda x: x + 1)
    raising = mx.compile(lambda x: 1 / 0)
    odd = np.arange(12, dtype=">f4").reshape(3, 4)
    return [
        lambda: mx.add(a, "x"),
        lambda: mx.array([[1, 2], [3]]),
        lambda: mx.array([1, object()]),
        lambda: mx.array(odd),
        lambda: mx.reshape(a, (7,)),
        lambda: mx.sum(a, axis=5),
        lambda: mx.zeros((-1, 2)),
        lambda: mx.zeros((2**40, 2**40)),
        lambda: mx.concatenate([a, mx.zeros((3, 3))], axis=1),
        lambda: mx.take(a, "x"),
        lambda: a[10],
        lambda: a[None, "x"],
        lambda: a.__setitem__((0, 9), 1.0),
        lambda: a.astype("float32"),
        lambda: a.reshape(5, 5),
        lambda: a @ i,
        lambda: mx.random.uniform(shape=(-1,)),
        lambda: mx.random.normal(key=a),
        lambda: f(object()),
        lambda: f(a, a),
        lambda: raising(a),
        lambda: g(mx.ones((2,)), "x"),
        lambda: g("x"),
        lambda: v(mx.array(1.0)),
        lambda: mx.export_to_dot(object(), a),
        lambda: mx.split(a, 4, axis=1),
        lambda: mx.pad(a, ((1, 2, 3),)),
        lambda: mx.stack([a, "x"]),
    ]


def test_no_leaks_on_error_paths():
    calls = _failing_calls()

    def run(n):
        for _ in range(n):
            for c in calls:
                try:
                    c()
                except Exception:
                    pass

    import kiln as mx
    run(50)
    gc.collect()
    mx.clear_cache()
    objs0 = len(gc.get_objects())
    act0 = mx.get_active_memory()
    heap0 = _malloc_in_use()
    tracemalloc.start()
    mem0 = tracemalloc.get_traced_memory()[0]
    run(10000 // len(calls) + 1)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - mem0
    tracemalloc.stop()
    assert grown < 100_000, "Python memory grew by %d bytes" % grown
    assert len(gc.get_objects()) - objs0 < 50
    assert mx.get_active_memory() - act0 < 100_000
    # kiln's own structures (arrays, graph nodes) live in the C heap:
    # 10,000 calls leaking as little as 20 bytes each would show here
    if heap0 is not None:
        grown = _malloc_in_use() - heap0
        assert grown < 200_000, "the C heap grew by %d bytes" % grown


def test_dtype_singletons_keep_their_references():
    import kiln as mx
    a = mx.zeros((2,), dtype=mx.int16)
    before = [sys.getrefcount(d) for d in (mx.int16, mx.float32, mx.bool_)]
    for _ in range(5000):
        a.dtype
        mx.float32.size
        repr(mx.bool_)
        mx.finfo(mx.float32).dtype
        mx.iinfo(mx.int16)
        try:
            mx.zeros((2,), dtype="x")
        except TypeError:
            pass
    after = [sys.getrefcount(d) for d in (mx.int16, mx.float32, mx.bool_)]
    assert after == before


# ----------------------------------------------------------------------
# the child: the fuzz
# ----------------------------------------------------------------------

class Fuzz:
    """Runs cases, printing each before it runs, and records
    SystemErrors (and how often each other exception type came)."""

    def __init__(self):
        import kiln
        self.mx = kiln
        self.n = 0
        self.types = {}
        self.bad = []
        self.out = sys.stdout

    def call(self, desc, fn, *args, **kw):
        self.n += 1
        self.out.write("CASE %s\n" % desc)
        self.out.flush()
        try:
            r = fn(*args, **kw)
        except SystemError as e:
            self.record(desc, e)
            return None
        except (Exception, KeyboardInterrupt, SystemExit) as e:
            # SystemExit comes from Python functions that raise it; it
            # must go through compile and the transforms unchanged
            self.count(desc, e)
            return None
        try:
            self.force(r)
        except SystemError as e:
            self.record(desc + " [eval]", e)
        except Exception as e:
            self.count(desc + " [eval]", e, "eval ")
        return r

    def record(self, desc, e):
        self.bad.append("%s -> %s: %s" % (desc, type(e).__name__, e))

    def count(self, desc, e, tag=""):
        t = tag + type(e).__name__
        self.types[t] = self.types.get(t, 0) + 1
        if type(e).__name__ in ("RuntimeError", "NotImplementedError") and \
                len(self.types.get("_rt", [])) < 400:
            self.types.setdefault("_rt", []).append(
                "%s -> %s: %s" % (desc, t, str(e)[:100]))

    def force(self, r, depth=0):
        """Evaluates the arrays of a result and reads small ones."""
        mx = self.mx
        if depth > 4:
            return
        if isinstance(r, mx.array):
            mx.eval(r)
            if r.size <= 64:
                r.tolist()
                repr(r)
        elif isinstance(r, (list, tuple)):
            for x in r[:8]:
                self.force(x, depth + 1)
        elif isinstance(r, dict):
            for x in list(r.values())[:8]:
                self.force(x, depth + 1)

    def finish(self):
        rt = self.types.pop("_rt", [])
        for b in self.bad:
            print("BAD " + b)
        for r in rt:
            print("RUNTIME " + r)
        print("TYPES %r" % sorted(self.types.items()))
        print("DONE %d" % self.n)


def hostile_objects():
    """(name, factory) pairs: each factory makes a fresh hostile value."""
    import numpy as np
    import kiln as mx

    class Raiser:
        """Every protocol raises."""
        def __index__(self):
            raise ValueError("__index__")

        def __int__(self):
            raise ValueError("__int__")

        def __float__(self):
            raise ValueError("__float__")

        def __len__(self):
            raise ValueError("__len__")

        def __iter__(self):
            raise ValueError("__iter__")

        def __getitem__(self, i):
            raise ValueError("__getitem__")

        def __array__(self, *a, **k):
            raise ValueError("__array__")

        def __bool__(self):
            raise ValueError("__bool__")

        def __eq__(self, o):
            raise ValueError("__eq__")

        def __hash__(self):
            raise ValueError("__hash__")

        def __repr__(self):
            raise ValueError("__repr__")

    class Liar:
        """Claims a huge length, yields nothing; __index__ says 3."""
        def __len__(self):
            return 10**9

        def __getitem__(self, i):
            raise IndexError(i)

        def __iter__(self):
            return iter(())

        def __index__(self):
            return 3

    class NegLen:
        def __len__(self):
            return -1

    class BadIndexType:
        def __index__(self):
            return "three"

    class HugeIndex:
        def __index__(self):
            return 2**70

    class ArrayList:
        def __array__(self, *a, **k):
            return [1, 2, 3]

    class ArraySelf:
        def __array__(self, *a, **k):
            return self

    class ArrayNumpy:
        def __array__(self, *a, **k):
            return np.arange(6, dtype=np.float32).reshape(2, 3)[:, ::2]

    class ArrayGetattr:
        def __getattr__(self, name):
            raise RuntimeError("getattr " + name)

    class EvilInt(int):
        """An int whose float conversion mutates a list (set by the
        factory)."""
        target = None

        def __float__(self):
            if self.target is not None:
                self.target.extend([1.5] * 1000)
            return 1.0

        def __index__(self):
            raise ValueError("EvilInt.__index__")

    class MutatingIndex:
        """__index__ clears the list that holds it."""
        def __init__(self, l):
            self.l = l

        def __index__(self):
            self.l.clear()
            return 1

    class EvilList(list):
        """A list whose Python-level protocols disagree with its items."""
        def __iter__(self):
            return iter(range(40))

        def __len__(self):
            return 99

        def __getitem__(self, i):
            raise ValueError("EvilList.__getitem__")

    class EvilTuple(tuple):
        def __new__(cls, *a):
            if a and isinstance(a[0], tuple):
                raise ValueError("EvilTuple.__new__")
            return super().__new__(cls, a)

        def __iter__(self):
            raise ValueError("EvilTuple.__iter__")

    class EvilDict(dict):
        def __iter__(self):
            raise ValueError("EvilDict.__iter__")

        def keys(self):
            raise ValueError("EvilDict.keys")

    class FlakyKey:
        """Hashable once (to enter a dict), then its hash and == raise."""
        def __init__(self):
            self.n = 0

        def __hash__(self):
            self.n += 1
            if self.n > 1:
                raise ValueError("FlakyKey.__hash__")
            return 7

        def __eq__(self, o):
            raise ValueError("FlakyKey.__eq__")

    def flaky_dict():
        return {FlakyKey(): mx.ones(2), "b": mx.ones(2)}

    def evil_int_list():
        l = [1.5, 2.5]
        e = EvilInt(3)
        e.target = l
        l.append(e)
        return l

    def mutating_list():
        l = [0, 1]
        l.append(MutatingIndex(l))
        l.append(1)
        return l

    def selfref():
        l = [1, 2]
        l.append(l)
        return l

    def selfref_first():
        l = []
        l.append(l)
        return l

    def selfref_arr():
        l = [mx.array(1.0)]
        l.append(l)
        return l

    def deep(n=40):
        x = [1.0]
        for _ in range(n):
            x = [x]
        return x

    def deep_tuple(n=3000):
        x = (1,)
        for _ in range(n):
            x = (x,)
        return x

    def deep_dict(n=3000):
        x = {"a": 1}
        for _ in range(n):
            x = {"a": x}
        return x

    def selfdict():
        d = {}
        d["a"] = d
        return d

    base = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    H = [
        ("None", lambda: None),
        ("str", lambda: "abc"),
        ("str_float32", lambda: "float32"),
        ("bytes", lambda: b"\x00\x01\x02\x03"),
        ("bytearray", lambda: bytearray(b"\x00\x01\x02\x03")),
        ("float", lambda: 1.5),
        ("nan", lambda: float("nan")),
        ("inf", lambda: float("inf")),
        ("-inf", lambda: float("-inf")),
        ("complex", lambda: 1 + 2j),
        ("neg", lambda: -3),
        ("neg_big", lambda: -(2**31)),
        ("2**31", lambda: 2**31),
        ("2**32", lambda: 2**32),
        ("2**63", lambda: 2**63),
        ("2**64", lambda: 2**64),
        ("-2**63-1", lambda: -2**63 - 1),
        ("-2**63", lambda: -2**63),
        ("2**200", lambda: 2**200),
        ("True", lambda: True),
        ("[]", lambda: []),
        ("()", lambda: ()),
        ("[[]]", lambda: [[]]),
        ("[[],[1]]", lambda: [[], [1]]),
        ("ragged", lambda: [[1, 2], [3]]),
        ("ragged_depth", lambda: [1, [2]]),
        ("ragged_depth2", lambda: [[1], 2]),
        ("mixed", lambda: [1, "a", None]),
        ("list_of_None", lambda: [None, None]),
        ("list_big", lambda: [2**63, -1]),
        ("list_huge", lambda: [2**200]),
        ("list_nan", lambda: [float("nan"), float("inf")]),
        ("list_arrays_ragged", lambda: [mx.zeros((2,)), mx.zeros((3,))]),
        ("list_arrays_mixed", lambda: [mx.zeros((2,)), [1, 2], np.ones(2)]),
        ("list_np_ragged", lambda: [np.ones(2), np.ones((2, 1))]),
        ("deep17", lambda: deep(17)),
        ("deep40", lambda: deep(40)),
        ("deep_tuple", deep_tuple),
        ("deep_dict", deep_dict),
        ("selfref", selfref),
        ("selfref_first", selfref_first),
        ("selfref_arr", selfref_arr),
        ("selfdict", selfdict),
        ("evil_int_list", evil_int_list),
        ("mutating_list", mutating_list),
        ("EvilInt", lambda: EvilInt(2)),
        ("EvilList", lambda: EvilList([1, 2, 3])),
        ("EvilList_arrays", lambda: EvilList([mx.ones(2), mx.ones(2)])),
        ("EvilTuple", lambda: EvilTuple(1, mx.ones(2))),
        ("EvilDict", lambda: EvilDict(a=mx.ones(2), b=1)),
        ("[EvilTuple]", lambda: [EvilTuple(mx.ones(2))]),
        ("dict_flaky_key", flaky_dict),
        ("dict", lambda: {"a": 1}),
        ("dict_int_keys", lambda: {1: mx.zeros(2), None: 2}),
        ("set", lambda: {1, 2}),
        ("frozenset", lambda: frozenset()),
        ("object", object),
        ("Raiser", Raiser),
        ("[Raiser]", lambda: [Raiser()]),
        ("(0,Raiser)", lambda: (0, Raiser())),
        ("Liar", Liar),
        ("NegLen", NegLen),
        ("BadIndexType", BadIndexType),
        ("HugeIndex", HugeIndex),
        ("ArrayList", ArrayList),
        ("ArraySelf", ArraySelf),
        ("ArrayNumpy", ArrayNumpy),
        ("ArrayGetattr", ArrayGetattr),
        ("generator", lambda: (i for i in range(3))),
        ("range", lambda: range(3)),
        ("range_huge", lambda: range(2**62)),
        ("slice", lambda: slice(None, None, -1)),
        ("Ellipsis", lambda: Ellipsis),
        ("type_int", lambda: int),
        ("lambda", lambda: (lambda *a, **k: None)),
        ("raising_fn", lambda: (lambda *a, **k: 1 / 0)),
        ("memoryview", lambda: memoryview(b"abcdefgh")),
        ("mv_f", lambda: memoryview(bytearray(16)).cast("f")),
        ("mv_2d", lambda: memoryview(bytearray(12)).cast("B", (3, 4))),
        ("mv_strided", lambda: memoryview(bytearray(16))[::3]),
        ("mv_P", lambda: memoryview(bytearray(16)).cast("P")),
        ("mv_c", lambda: memoryview(bytearray(4)).cast("c")),
        ("mv_released", lambda: _released_mv()),
        ("mv_0d", lambda: memoryview(bytearray(4)).cast("i", ())),
        ("np_f64", lambda: np.linspace(0, 1, 6).reshape(2, 3)),
        ("np_be", lambda: np.arange(6, dtype=">f4").reshape(2, 3)),
        ("np_be_i8", lambda: np.arange(6, dtype=">i8")),
        ("np_strided", lambda: base[:, ::2, ::-3]),
        ("np_T", lambda: base.T),
        ("np_bcast", lambda: np.broadcast_to(np.float32(1), (3, 4))),
        ("np_0d", lambda: np.array(2.5, dtype=np.float32)),
        ("np_size0", lambda: np.zeros((0, 3), np.int32)),
        ("np_f16", lambda: np.ones((2, 2), np.float16)),
        ("np_bool", lambda: np.array([True, False])),
        ("np_u64", lambda: np.array([2**64 - 1], np.uint64)),
        ("np_i64", lambda: np.array([2**62], np.int64)),
        ("np_complex", lambda: np.ones(3, np.complex64)),
        ("np_object", lambda: np.array([1, "a"], dtype=object)),
        ("np_str", lambda: np.array(["ab", "c"])),
        ("np_datetime", lambda: np.array(["2020-01-01"], "datetime64[D]")),
        ("np_struct", lambda: np.zeros(2, dtype=[("a", "i4"), ("b", "f4")])),
        ("np_longdouble", lambda: np.ones(2, np.longdouble)),
        ("np_17d", lambda: np.zeros((1,) * 17, np.float32)),
        ("np_readonly", lambda: _readonly()),
        ("np_f32_scalar", lambda: np.float32(1.5)),
        ("np_i64_scalar", lambda: np.int64(-7)),
        ("np_bool_scalar", lambda: np.bool_(True)),
        ("np_float32_type", lambda: np.float32),
        ("np_dtype", lambda: np.dtype("float32")),
        ("dtype_bf16", lambda: mx.bfloat16),
        ("dtype_bool", lambda: mx.bool_),
        ("dtype_u64", lambda: mx.uint64),
        ("dtype_f64", lambda: mx.float64),
        ("dtype_category", lambda: mx.floating),
        ("cpu", lambda: mx.cpu),
        ("gpu", lambda: mx.gpu),
        ("Device_gpu", lambda: mx.Device(mx.gpu)),
        ("stream", lambda: mx.default_stream(mx.cpu)),
        ("module", lambda: mx),
        ("arr_bf16", lambda: mx.ones((2, 3), dtype=mx.bfloat16)),
        ("arr_f16", lambda: mx.ones((2, 3), dtype=mx.float16)),
        ("arr_f64", lambda: mx.ones((2, 3), dtype=mx.float64)),
        ("arr_bool", lambda: mx.array([[True, False, True]])),
        ("arr_u8", lambda: mx.array([1, 255, 0], mx.uint8)),
        ("arr_i8", lambda: mx.array([-128, 127], mx.int8)),
        ("arr_u64", lambda: mx.array([2**64 - 1, 0], mx.uint64)),
        ("arr_i64", lambda: mx.array([-2**63, 2**63 - 1])),
        ("arr_u32", lambda: mx.array([1, 2, 3], mx.uint32)),
        ("arr_i16", lambda: mx.array([[1, -2]], mx.int16)),
        ("arr_u16", lambda: mx.array([[1, 2]], mx.uint16)),
        ("arr_0d", lambda: mx.array(3.0)),
        ("arr_0d_int", lambda: mx.array(-1)),
        ("arr_size0", lambda: mx.zeros((0,))),
        ("arr_size0_2d", lambda: mx.zeros((3, 0), mx.int32)),
        ("arr_nan", lambda: mx.array([float("nan"), float("inf"), -0.0])),
        ("arr_16d", lambda: mx.zeros((1,) * 16)),
        ("arr_big_int", lambda: mx.array([2**31 - 1, -2**31])),
        ("arr_lazy", lambda: mx.exp(mx.arange(6).reshape(2, 3))),
        ("arr_bcast", lambda: mx.broadcast_to(mx.array(1.0), (4, 3))),
        ("arr_strided", lambda: mx.arange(24).reshape(4, 6)[::-2, 1::3]),
        ("list_arr_dtypes", lambda: [mx.array(1, mx.uint8), mx.array(1.0)]),
        ("tuple_shape_neg", lambda: (2, -2)),
        ("tuple_shape_huge", lambda: (2**40, 2**40)),
        ("tuple_shape_2**31", lambda: (2**31,)),
        ("tuple_shape_floats", lambda: (2.0, 3.0)),
        ("tuple_17", lambda: (1,) * 17),
        ("tuple_axes_dup", lambda: (0, 0)),
        ("tuple_axes_oob", lambda: (0, 99)),
        ("list_neg1", lambda: [-1, -1]),
        ("tuple_bools", lambda: (True, False)),
    ]
    return [h for h in H if not (NO_RLIMIT and h[0] in BIG_BUT_POSSIBLE)]


# Without the address-space limit (under AddressSanitizer), sizes that a
# machine can allocate but only slowly (2**31 elements: 8 GiB of float32)
# are left out: they would swap instead of failing.
NO_RLIMIT = bool(os.environ.get("FUZZ_NO_RLIMIT"))
BIG_BUT_POSSIBLE = {"neg_big", "2**31", "2**32", "tuple_shape_2**31"}


def _released_mv():
    m = memoryview(b"abcd")
    m.release()
    return m


def _readonly():
    import numpy as np
    a = np.arange(4, dtype=np.int32)
    a.setflags(write=False)
    return a


def valid_objects():
    """(name, factory): values functions commonly accept."""
    import kiln as mx
    return [
        ("A23", lambda: mx.array([[1.0, 2.0, 3.0], [4.0, -5.0, 6.0]])),
        ("I23", lambda: mx.arange(6).reshape(2, 3)),
        ("B23", lambda: mx.array([[True, False, True], [False, True, True]])),
        ("V3", lambda: mx.array([0.5, -1.0, 2.0])),
        ("I3", lambda: mx.array([2, 0, 1])),
        ("S0", lambda: mx.array(2.0)),
        ("M33", lambda: mx.eye(3)),
        ("0", lambda: 0),
        ("1", lambda: 1),
        ("2", lambda: 2),
        ("-1", lambda: -1),
        ("0.5", lambda: 0.5),
        ("(2,3)", lambda: (2, 3)),
        ("(3,2)", lambda: (3, 2)),
        ("[0,1]", lambda: [0, 1]),
        ("[[1,2],[3,4]]", lambda: [[1, 2], [3, 4]]),
        ("float32", lambda: __import__("kiln").float32),
        ("int32", lambda: __import__("kiln").int32),
        ("None", lambda: None),
        ("False", lambda: False),
        ("'constant'", lambda: "constant"),
        ("key", lambda: mx.random.key(1)),
        ("[A23,A23]", lambda: [mx.ones((2, 3)), mx.zeros((2, 3))]),
        ("(3,1)", lambda: (3, 1)),
        ("cpu", lambda: mx.cpu),
        ("compiled", lambda: mx.compile(lambda a: a + 1)),
        ("sink", _Sink),
        ("treedef", lambda: mx._kiln._tree_flatten([mx.ones(2)])[1]),
    ]


# Names that are not plain functions of arrays; fuzzed in their own batch
# (global state) or left to the types batch.
STATEFUL = {"set_memory_limit", "set_cache_limit", "set_wired_limit",
            "set_num_threads", "set_default_device", "set_default_stream",
            "disable_compile", "enable_compile", "clear_streams",
            "clear_cache", "clear_compile_cache", "reset_peak_memory",
            "synchronize", "new_stream", "stream", "seed"}
TRANSFORMS = {"compile", "grad", "value_and_grad", "vjp", "jvp", "vmap"}
KWNAMES = ["axis", "axes", "keepdims", "dtype", "shape", "stream", "key",
           "k", "num", "ddof", "indices", "source", "destination", "offset",
           "start_axis", "end_axis", "equal_nan", "kind", "mode",
           "constant_values", "pad_width", "reps", "repeats", "a_min",
           "a_max", "decimals", "loc", "scale", "low", "high", "p", "logits",
           "num_samples", "lower", "upper", "bogus_keyword", "fun",
           "argnums", "argnames", "in_axes", "out_axes", "inputs",
           "outputs", "shapeless", "file", "x", "a", "b", "val", "vals",
           "start", "stop", "step", "n", "m", "device", "s", "index",
           "nan", "posinf", "neginf", "rtol", "atol", "indexing", "sparse",
           "copy", "fused"]


def module_functions():
    import kiln as mx
    names = []
    for n in sorted(dir(mx._kiln)):
        if n.startswith("__"):
            continue
        o = getattr(mx._kiln, n)
        if isinstance(o, type) or not callable(o):
            continue
        if n in STATEFUL or n in TRANSFORMS:
            continue
        names.append(n)
    return names


def make(pair):
    return pair[1]()


def fuzz_functions(fz, rng, funcs, label, combos=60):
    """Systematic: f(h), f(A, h), f(h, A), f(A, 1, h); then random
    combinations of valid and hostile arguments."""
    V = valid_objects()
    H = hostile_objects()
    for name, f in funcs:
        fz.call("%s()" % label(name), f)
        for hn, hf in H:
            fz.call("%s(%s)" % (label(name), hn), f, hf())
            fz.call("%s(A23, %s)" % (label(name), hn), f, make(V[0]), hf())
            fz.call("%s(%s, A23)" % (label(name), hn), f, hf(), make(V[0]))
            fz.call("%s(I23, 1, %s)" % (label(name), hn), f, make(V[1]), 1,
                    hf())
        for _ in range(combos):
            na = rng.randrange(0, 6)
            picks = [rng.choice(H if rng.random() < 0.35 else V)
                     for _ in range(na)]
            kw = {}
            if rng.random() < 0.4:
                kp = rng.choice(H if rng.random() < 0.4 else V)
                kw[rng.choice(KWNAMES)] = kp
            desc = "%s(%s%s)" % (label(name),
                                 ", ".join(p[0] for p in picks),
                                 "".join(", %s=%s" % (k, v[0])
                                         for k, v in kw.items()))
            fz.call(desc, f, *[make(p) for p in picks],
                    **{k: make(v) for k, v in kw.items()})


def _conversions():
    import numpy as np
    return [
        ("np.array", np.array),
        ("np.asarray_f64", lambda x: np.asarray(x, np.float64)),
        ("bytes(memoryview)", lambda x: bytes(memoryview(x))),
        ("memoryview.tolist", lambda x: memoryview(x).tolist()),
        ("list", list), ("repr", repr), ("str", str),
        ("tolist", lambda x: x.tolist()), ("item", lambda x: x.item()),
        ("float", float), ("int", int), ("bool", bool), ("hash", hash),
        ("len", len), ("iter", iter), ("list(iter)", lambda x: list(iter(x))),
        ("np.array_nocopy", lambda x: np.array(x, copy=False)),
        ("__array__(f32)", lambda x: x.__array__(np.float32)),
        ("__array__(junk)", lambda x: x.__array__("junk")),
        ("__array__(None, True)", lambda x: x.__array__(None, True)),
        ("format", lambda x: format(x, "10")),
        ("__reduce__", lambda x: x.__reduce__()),
        ("__reduce_ex__(2)", lambda x: x.__reduce_ex__(2)),
        ("__getstate__", lambda x: x.__getstate__()),
        ("__setstate__(None)", lambda x: x.__setstate__(None)),
        ("__setstate__((1, 2))", lambda x: x.__setstate__((1, 2))),
        ("__setstate__(junk)", lambda x: x.__setstate__(
            (b"xx", "float32", (2**40,)))),
        ("__setstate__(self.__getstate__)", lambda x: x.__setstate__(
            x.__getstate__())),
        ("__copy__", lambda x: x.__copy__()),
        ("__deepcopy__(None)", lambda x: x.__deepcopy__(None)),
        ("__deepcopy__({})", lambda x: x.__deepcopy__({})),
        ("__sizeof__", lambda x: x.__sizeof__()),
        ("__index__", lambda x: x.__index__()),
        ("__init__(1, 2, 3)", lambda x: x.__init__(1, 2, 3)),
        ("__init__(list)", lambda x: x.__init__([1.0, 2.0])),
    ]


CONVERSIONS = []



def batch_construct(fz, rng):
    import numpy as np
    import kiln as mx
    H = hostile_objects()
    CONVERSIONS[:] = _conversions()
    dts = [None, mx.bool_, mx.uint8, mx.uint16, mx.uint32, mx.uint64,
           mx.int8, mx.int16, mx.int32, mx.int64, mx.float16, mx.bfloat16,
           mx.float32, mx.float64]
    for hn, hf in H:
        for dt in dts:
            fz.call("array(%s, dtype=%s)" % (hn, dt), mx.array, hf(), dt)
        fz.call("array(%s, %s)" % (hn, hn), mx.array, hf(), hf())
        fz.call("array(val=%s)" % hn, mx.array, val=hf())
        fz.call("array(%s, bogus=1)" % hn, mx.array, hf(), bogus=1)
        fz.call("array(1, dtype=%s)" % hn, mx.array, 1, dtype=hf())
        fz.call("array(%s, float32, 3)" % hn, mx.array, hf(), mx.float32, 3)
        for f in ("zeros", "ones", "full", "arange", "eye", "identity",
                  "tri", "linspace"):
            fz.call("%s(%s)" % (f, hn), getattr(mx, f), hf())
    # numpy arrays of every dtype and layout, both ways
    for npdt in ("?", "u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8", "f2",
                 "f4", "f8", ">f4", ">i2", "<f8", ">u8", "c8", "O", "U2",
                 "V4", "m8[s]", "M8[D]", "g"):
        try:
            base = np.zeros((3, 4, 5), dtype=npdt)
        except Exception:
            continue
        for view, vn in ((base, "c"), (base[::-1, :, 1::2], "rev"),
                         (base.transpose(2, 0, 1), "T"),
                         (base[:, :0], "empty"), (base[1, 2, 3], "0d"),
                         (np.broadcast_to(base[:1], (5, 4, 5)), "bcast")):
            for dt in (None, mx.float32, mx.bfloat16, mx.bool_):
                a = fz.call("array(np[%s %s], %s)" % (npdt, vn, dt),
                            mx.array, view, dt)
                if a is not None:
                    fz.call("np.array(array(np[%s %s]))" % (npdt, vn),
                            np.array, a)
                    fz.call("memoryview(array(np[%s %s]))" % (npdt, vn),
                            lambda x: bytes(memoryview(x)), a)
    # kiln arrays of every dtype back to Python and numpy
    for dt in dts[1:]:
        for shape in ((), (0,), (2, 3), (1, 0, 2), (1,) * 16):
            a = fz.call("zeros(%s, %s)" % (shape, dt), mx.zeros, shape, dt)
            if a is None:
                continue
            for cn, conv in CONVERSIONS:
                fz.call("%s(zeros(%s, %s))" % (cn, shape, dt), conv, a)
    import pickle
    import copy
    for dt in dts[1:]:
        a = mx.ones((2, 2), dt)
        fz.call("pickle %s" % dt, lambda: pickle.loads(pickle.dumps(a)))
        fz.call("deepcopy %s" % dt, lambda: copy.deepcopy([a, a]))
    # a buffer exporter mutated while a kiln array holds its memoryview
    b = bytearray(64)
    m = fz.call("array(bytearray)", mx.array, b)
    fz.call("bytearray.extend", b.extend, b"x" * 1000)
    fz.call("read after extend", fz.force, m)
    # conversion of an array alive only through a memoryview
    mv = fz.call("memoryview(temp)",
                 lambda: memoryview(mx.arange(10) * 2))
    gc.collect()
    fz.call("mv.tolist", lambda: mv.tolist())
    fz.call("mv.release", lambda: mv.release())


def batch_module(part):
    def run(fz, rng):
        import kiln as mx
        names = module_functions()
        third = (len(names) + 2) // 3
        names = names[part * third:(part + 1) * third]
        fuzz_functions(fz, rng, [(n, getattr(mx._kiln, n)) for n in names],
                       lambda n: n, combos=80)
    return run


SEED_ARGS = [
    (), ("A23",), ("I23",), ("V3",), ("S0",), ("M33",), ("B23",),
    ("A23", "A23"), ("A23", "0"), ("A23", "1"), ("I23", "1"), ("A23", "2"),
    ("A23", "-1"), ("A23", "(3,2)"), ("A23", "(2,3)"), ("(2,3)",), ("2",),
    ("A23", "[0,1]"), ("A23", "I23"), ("V3", "I3"), ("A23", "float32"),
    ("B23", "A23", "A23"), ("A23", "0", "1"), ("A23", "1", "0"),
    ("0", "1"), ("0", "2", "1"), ("[A23,A23]",), ("A23", "[A23,A23]"),
    ("key",), ("key", "2"), ("(2,3)", "float32"), ("2", "float32"),
    ("0.5",), ("0.5", "(2,3)"), ("0", "1", "(2,3)"), ("V3", "(2,3)"),
    ("[[1,2],[3,4]]",), ("A23", "'constant'"), ("A23", "0.5", "0.5"),
    ("M33", "M33", "M33"), ("cpu",), ("float32", "float32"),
    ("float32",), ("A23", "1", "(3,1)"), ("compiled",), ("sink", "A23"),
    ("treedef", "[A23]"),
]


def seed_call(fz, f, V):
    """The first valid-looking argument list f accepts (no exception),
    and the keyword names it takes; None when nothing works."""
    vals = dict(V)
    for args in SEED_ARGS:
        try:
            r = f(*[vals[a]() for a in args])
            fz.force(r)
        except Exception:
            continue
        kws = []
        for k in KWNAMES:
            try:
                f(*[vals[a]() for a in args], **{k: None})
            except TypeError as e:
                m = str(e)
                if "keyword" in m and ("invalid" in m or "unexpected" in m):
                    continue
            except Exception:
                pass
            kws.append(k)
        return args, kws
    return None


def fuzz_mutations(fz, rng, funcs, label, per_slot=60):
    """From each function's seed call, every argument and accepted
    keyword in turn replaced by hostile values."""
    V = valid_objects()
    H = hostile_objects()
    vals = dict(V)
    for name, f in funcs:
        seed = seed_call(fz, f, V)
        if seed is None:
            fz.call("%s: no seed call" % label(name), lambda: None)
            continue
        args, kws = seed
        slots = [("pos", i) for i in range(len(args) + 1)] + \
            [("kw", k) for k in kws]
        for kind, where in slots:
            for hn, hf in rng.sample(H, min(per_slot, len(H))):
                a = [vals[x]() for x in args]
                kw = {}
                if kind == "pos":
                    a = a[:where] + [hf()] + a[where + 1:]
                    d = ", ".join(args[:where] + (hn,) + args[where + 1:])
                else:
                    kw[where] = hf()
                    d = ", ".join(args + ("%s=%s" % (where, hn),))
                fz.call("%s(%s)" % (label(name), d), f, *a, **kw)


def batch_mutate(part):
    def run(fz, rng):
        import kiln as mx
        names = module_functions()
        third = (len(names) + 2) // 3
        names = names[part * third:(part + 1) * third]
        fuzz_mutations(fz, rng, [(n, getattr(mx._kiln, n)) for n in names],
                       lambda n: n)
        if part == 0:
            r = mx.random
            fuzz_mutations(fz, rng, [(n, getattr(r, n)) for n in sorted(
                dir(r)) if not n.startswith("_") and callable(getattr(r, n))],
                lambda n: "random." + n)
        if part == 1:
            x = mx.array([[1.0, 2.0, 3.0], [4.0, -5.0, 6.0]])
            fuzz_mutations(fz, rng, [(m, getattr(x, m))
                                     for m in array_methods()],
                           lambda n: "A23." + n, per_slot=40)
    return run


def batch_kwargs(fz, rng):
    """Every keyword name with hostile values on a valid call."""
    import kiln as mx
    V = valid_objects()
    H = hostile_objects()
    names = module_functions()
    for n in names:
        f = getattr(mx._kiln, n)
        for k in KWNAMES:
            h = rng.choice(H)
            fz.call("%s(A23, %s=%s)" % (n, k, h[0]), f, make(V[0]),
                    **{k: make(h)})
            v = rng.choice(V)
            fz.call("%s(I23, %s=%s)" % (n, k, v[0]), f, make(V[1]),
                    **{k: make(v)})
        # too many positional arguments, all valid
        fz.call("%s(9 args)" % n, f, *[make(V[0])] * 9)
        fz.call("%s(**big kwargs)" % n, f, make(V[0]),
                **{k: 1 for k in KWNAMES})


def batch_random(fz, rng):
    import kiln as mx
    r = mx.random
    funcs = [(n, getattr(r, n)) for n in sorted(dir(r))
             if not n.startswith("_") and callable(getattr(r, n))]
    fuzz_functions(fz, rng, funcs, lambda n: "random." + n, combos=150)
    # a corrupted random state
    saved = list(r.state)
    for junk in (None, "abc", mx.zeros((3,)), mx.zeros((2,), mx.uint8),
                 mx.array([1.0, 2.0]), [mx.zeros((2,), mx.uint32)], 2**70):
        r.state[:] = [junk]
        fz.call("uniform() with state=[%r]" % type(junk).__name__,
                r.uniform)
        fz.call("normal((2,)) with state=[%r]" % type(junk).__name__,
                r.normal, (2,))
        fz.call("seed then uniform with state=[%r]" % type(junk).__name__,
                lambda: (r.seed(1), r.uniform()))
    r.state.clear()
    fz.call("uniform() with empty state", r.uniform)
    fz.call("key(1) with empty state", r.key, 1)
    r.state[:] = saved


def array_methods():
    import kiln as mx
    return sorted(n for n in dir(mx.array)
                  if not n.startswith("__") and
                  callable(getattr(mx.array, n, None)))


def batch_array(fz, rng):
    import operator
    import kiln as mx
    V = valid_objects()
    H = hostile_objects()
    subjects = [V[0], V[1], V[2], V[5]] + [h for h in H
                                           if h[0].startswith("arr_")]
    methods = array_methods()
    for sn, sf in subjects:
        x = sf()
        for m in methods:
            f = getattr(x, m)
            fz.call("%s.%s()" % (sn, m), f)
            for hn, hf in rng.sample(H, 25):
                fz.call("%s.%s(%s)" % (sn, m, hn), f, hf())
            for _ in range(6):
                picks = [rng.choice(V + H) for _ in range(rng.randrange(4))]
                kw = {}
                if rng.random() < 0.5:
                    kv = rng.choice(V + H)
                    kw[rng.choice(KWNAMES)] = kv
                fz.call("%s.%s(%s%s)" % (sn, m, ", ".join(p[0] for p in
                                                          picks),
                                         "".join(", %s=%s" % (k, v[0])
                                                 for k, v in kw.items())),
                        f, *[make(p) for p in picks],
                        **{k: make(v) for k, v in kw.items()})
        for attr in ("shape", "ndim", "size", "dtype", "itemsize", "nbytes",
                     "T", "at"):
            fz.call("%s.%s" % (sn, attr), getattr, x, attr)
            fz.call("%s.%s = 1" % (sn, attr), setattr, x, attr, 1)
            fz.call("del %s.%s" % (sn, attr), delattr, x, attr)
        fz.call("%s.foo = 1" % sn, setattr, x, "foo", 1)
    # operators: every binary operator both ways with every operand
    binops = [operator.add, operator.sub, operator.mul, operator.truediv,
              operator.floordiv, operator.mod, operator.pow, operator.matmul,
              operator.and_, operator.or_, operator.xor, operator.lshift,
              operator.rshift, operator.eq, operator.ne, operator.lt,
              operator.le, operator.gt, operator.ge, divmod,
              operator.iadd, operator.isub, operator.imul,
              operator.itruediv, operator.ifloordiv, operator.imod,
              operator.ipow, operator.imatmul, operator.iand, operator.ior,
              operator.ixor, operator.ilshift, operator.irshift]
    unops = [operator.neg, operator.pos, operator.abs, operator.invert,
             operator.not_, bool, int, float, len, hash, repr,
             operator.index, lambda x: pow(x, 2, 3), round,
             lambda x: x.__array__(), lambda x: list(x)]
    operands = subjects + H
    for sn, sf in subjects:
        for op in binops:
            for on, of in rng.sample(operands, 20):
                fz.call("%s %s %s" % (sn, op.__name__, on), op, sf(), of())
                fz.call("%s %s %s" % (on, op.__name__, sn), op, of(), sf())
        for op in unops:
            fz.call("%s(%s)" % (getattr(op, "__name__", "op"), sn), op, sf())
    for sn, sf in subjects:
        for m in ("__add__", "__radd__", "__eq__", "__lt__", "__iadd__",
                  "__pow__", "__rpow__", "__matmul__", "__divmod__",
                  "__rdivmod__", "__bool__", "__index__", "__float__",
                  "__int__", "__abs__", "__getitem__", "__setitem__",
                  "__delitem__", "__array__", "__iter__", "__len__",
                  "__copy__", "__deepcopy__", "__init__", "__format__"):
            f = getattr(sf(), m, None)
            if f is None:
                continue
            fz.call("%s.%s()" % (sn, m), f)
            fz.call("%s.%s(1, 2, 3)" % (sn, m), f, 1, 2, 3)
            fz.call("%s.%s(x=1)" % (sn, m), f, x=1)
    # unbound methods on the wrong self
    for m in methods + ["__add__", "__getitem__", "__repr__", "__len__",
                        "__array__", "__init__"]:
        f = getattr(mx.array, m)
        for self_ in (None, 1, "s", object(), mx.float32):
            fz.call("array.%s(%r)" % (m, type(self_).__name__), f, self_)
    # subclassing and __new__ without __init__
    fz.call("array.__new__(array)", lambda: mx.array.__new__(mx.array))
    fz.call("repr(array.__new__(array))",
            lambda: repr(mx.array.__new__(mx.array)))
    fz.call("array.__new__(array) + 1",
            lambda: mx.array.__new__(mx.array) + 1)
    fz.call("array.__new__(array).shape",
            lambda: mx.array.__new__(mx.array).shape)
    fz.call("eval(array.__new__(array))",
            lambda: mx.eval(mx.array.__new__(mx.array)))

    # an operand whose conversion assigns into the other operand (its
    # old value must stay alive until the operator is done with it)
    import numpy as np
    x = mx.zeros((4,)) + 0

    class MutArr:
        def __array__(self, *a, **k):
            # a new value with no link to the old one, which dies here
            x.__setstate__(("float32", (4,), bytes(16)))
            return np.ones(4, np.float32)
    fz.call("x + MutArr", lambda: x + MutArr())
    fz.call("MutArr - x", lambda: MutArr() - x)
    fz.call("x += MutArr", lambda: operator.iadd(x, MutArr()))
    fz.call("x[0:2] = MutArr", lambda: x.__setitem__(slice(0, 4), MutArr()))
    fz.call("x.at[0].add(MutArr)", lambda: x.at[0].add(MutArr()))
    fz.call("add(x, MutArr)", lambda: mx.add(x, MutArr()))
    fz.call("where(x, MutArr, x)", lambda: mx.where(x, MutArr(), x))
    fz.call("concatenate([x, MutArr])",
            lambda: mx.concatenate([x, MutArr()]))

    # weak references to arrays and compiled functions
    import weakref
    w = mx.ones((3,)) * 2
    r = fz.call("weakref(array)", weakref.ref, w)
    fz.call("weakref.finalize(array)", weakref.finalize, w, lambda: None)
    del w
    gc.collect()
    fz.call("dead weakref()", lambda: r and r())
    c = mx.compile(lambda a: a + 1)
    rc = fz.call("weakref(compiled)", weakref.ref, c)
    del c
    gc.collect()
    fz.call("dead compiled weakref()", lambda: rc and rc())

    class Sub(mx.array):
        pass
    s = fz.call("Sub([1,2])", Sub, [1, 2])
    if s is not None:
        fz.call("Sub + 1", lambda: s + 1)
        fz.call("Sub[0]", lambda: s[0])
    fz.call("array.__new__(Sub)", lambda: mx.array.__new__(Sub) * 2)


def batch_index(fz, rng):
    import numpy as np
    import kiln as mx
    H = hostile_objects()
    keys = [h for h in H] + [
        ("0", lambda: 0), ("-1", lambda: -1), ("5", lambda: 5),
        ("-7", lambda: -7), ("slice", lambda: slice(1, None, -1)),
        ("slice0", lambda: slice(None, None, 0)),
        ("slice_big", lambda: slice(-2**63, 2**63, 2**62)),
        ("slice_huge", lambda: slice(2**200, -2**200, -2**100)),
        ("slice_str", lambda: slice("a", None)),
        ("slice_float", lambda: slice(0.5, 1.5)),
        ("slice_raiser", lambda: slice(H[[h[0] for h in H].index(
            "Raiser")][1]())),
        ("None", lambda: None), ("...", lambda: Ellipsis),
        ("(...,...)", lambda: (Ellipsis, Ellipsis)),
        ("(None,)*20", lambda: (None,) * 20),
        ("(0,0,0,0)", lambda: (0, 0, 0, 0)),
        ("arr_idx", lambda: mx.array([0, 1, -1])),
        ("arr_idx_oob", lambda: mx.array([0, 100, -100])),
        ("arr_idx_2d", lambda: mx.array([[0], [1]])),
        ("arr_bool_mask", lambda: mx.array([True, False])),
        ("arr_float_idx", lambda: mx.array([0.5])),
        ("arr_u64_idx", lambda: mx.array([2**64 - 1], mx.uint64)),
        ("np_idx", lambda: np.array([1, 0])),
        ("np_bool", lambda: np.array([[True, False, True]] * 2)),
        ("list_idx", lambda: [0, 1]),
        ("list_nested_idx", lambda: [[0, 1], [1, 0]]),
        ("(arr, arr)", lambda: (mx.array([0, 1]), mx.array([[0], [2]]))),
        ("(arr, None, arr)", lambda: (mx.array([0]), None, mx.array([1]))),
        ("(slice, arr, ...)", lambda: (slice(None), mx.array([1]),
                                       Ellipsis)),
        ("(0, slice, None, arr)", lambda: (0, slice(None), None,
                                           mx.array([0, 0]))),
    ]
    values = [("1.5", lambda: 1.5), ("arr23", lambda: mx.ones((2, 3))),
              ("arr99", lambda: mx.ones((9, 9))),
              ("arr_bf16", lambda: mx.ones((3,), mx.bfloat16)),
              ("2**70", lambda: 2**70), ("str", lambda: "x"),
              ("None", lambda: None), ("list", lambda: [1, 2, 3]),
              ("ragged", lambda: [[1], [1, 2]]), ("np", lambda: np.ones(3)),
              ("Raiser", H[[h[0] for h in H].index("Raiser")][1])]
    subjects = [("A23", lambda: mx.array([[1.0, 2, 3], [4, 5, 6]])),
                ("S0", lambda: mx.array(1)),
                ("Z0", lambda: mx.zeros((0, 3))),
                ("U8", lambda: mx.array([1, 2, 3], mx.uint8)),
                ("D16", lambda: mx.zeros((1,) * 16))]
    for sn, sf in subjects:
        for kn, kf in keys:
            fz.call("%s[%s]" % (sn, kn), lambda x, k: x[k], sf(), kf())
            fz.call("%s[%s, %s]" % (sn, kn, kn), lambda x, k: x[k, k], sf(),
                    kf())
            for vn, vf in rng.sample(values, 3):
                fz.call("%s[%s] = %s" % (sn, kn, vn), operator_setitem,
                        sf(), kf(), vf())
            fz.call("%s[%s] += 1" % (sn, kn), operator_iadd_item, sf(),
                    kf())
            fz.call("del %s[%s]" % (sn, kn), operator_delitem, sf(), kf())
            at = sf().at
            fz.call("%s.at[%s]" % (sn, kn), lambda a, k: a[k], at, kf())
            for m in ("add", "subtract", "multiply", "divide", "maximum",
                      "minimum"):
                vn, vf = rng.choice(values)
                fz.call("%s.at[%s].%s(%s)" % (sn, kn, m, vn),
                        lambda a, k, m, v: getattr(a[k], m)(v), at, kf(), m,
                        vf())
        fz.call("%s.at.add(1)" % sn, lambda a: a.at.add(1), sf())
        fz.call("%s.at[0] = 1" % sn, lambda a: a.at.__setitem__(0, 1), sf())
        fz.call("ArrayAt()", mx.ArrayAt)
        fz.call("ArrayAt(x)", mx.ArrayAt, sf())
        fz.call("ArrayAt(x, 0).add(1)", lambda x: mx.ArrayAt(x, 0).add(1),
                sf())
        fz.call("ArrayAt.__new__().add(1)",
                lambda: mx.ArrayAt.__new__(mx.ArrayAt).add(1))
        fz.call("ArrayAt.__new__()[0]",
                lambda: mx.ArrayAt.__new__(mx.ArrayAt)[0].add(1))

    # a key whose __index__ replaces the value of the array being indexed
    x = mx.zeros((4,)) + 0

    class Mut:
        def __index__(self):
            x.__setstate__(("float32", (4,), bytes(16)))
            return 1
    fz.call("x[Mut]", lambda: x[Mut()])
    fz.call("x[Mut] = 1", lambda: x.__setitem__(Mut(), 1.0))
    fz.call("x[Mut:Mut]", lambda: x[Mut():Mut()])


def operator_setitem(x, k, v):
    x[k] = v
    return x


def operator_iadd_item(x, k):
    x[k] += 1
    return x


def operator_delitem(x, k):
    del x[k]


def batch_transforms(fz, rng):
    import numpy as np
    import kiln as mx
    H = hostile_objects()
    x = lambda: mx.array([1.0, 2.0, 3.0])
    leaked = []
    holder = []

    def evaluating(a):
        mx.eval(a)
        return a

    def rec(a):
        return mx.compile(rec)(a)

    def grad_rec(a):
        return mx.grad(grad_rec)(a)

    def vmap_rec(a):
        return mx.vmap(vmap_rec)(a)

    def deleting(a):
        holder.clear()
        gc.collect()
        return a * 2

    def mutating(a, *rest):
        a += 1
        a[0] = 7.0
        return a

    def mutating_list(l):
        r = l[0] * 2
        l.clear()
        l.append("junk")
        return r

    def gen(a):
        yield a

    class Weird:
        pass

    funs = [
        ("identity", lambda a, *r, **k: a),
        ("sum", lambda a, *r, **k: (a * a).sum()),
        ("tuple_aux", lambda a, *r, **k: ((a * a).sum(), {"aux": a})),
        ("raise", lambda *a, **k: 1 / 0),
        ("raise_system_exit", lambda *a, **k: _raise_system_exit()),
        ("none", lambda *a, **k: None),
        ("str", lambda *a, **k: "str"),
        ("object", lambda *a, **k: object()),
        ("int", lambda *a, **k: 3),
        ("float", lambda *a, **k: 3.5),
        ("np", lambda *a, **k: np.ones(3)),
        ("weird", lambda *a, **k: Weird()),
        ("list_junk", lambda a, *r, **k: [a, object()]),
        ("dict_int_keys", lambda a, *r, **k: {1: a}),
        ("selfref_out", lambda a, *r, **k: _selfref_with(a)),
        ("deep_out", lambda a, *r, **k: _deep_with(a, 3000)),
        ("generator", lambda *a, **k: gen(1)),
        ("evaluating", evaluating),
        ("item", lambda a, *r, **k: a.sum().item() * a),
        ("tolist", lambda a, *r, **k: mx.array(a.tolist())),
        ("numpy", lambda a, *r, **k: mx.array(np.array(a))),
        ("memoryview", lambda a, *r, **k: mx.array(memoryview(a))),
        ("bool", lambda a, *r, **k: a if bool(a.sum() > 0) else -a),
        ("float()", lambda a, *r, **k: float(a.sum()) * a),
        ("repr", lambda a, *r, **k: (repr(a), a)[1]),
        ("leak", lambda a, *r, **k: leaked.append(a) or a),
        ("use_leaked", lambda a, *r, **k: a + (leaked[-1] if leaked
                                               else 0)),
        ("recursive_compile", rec),
        ("recursive_grad", grad_rec),
        ("recursive_vmap", vmap_rec),
        ("deleting", deleting),
        ("mutating", mutating),
        ("mutating_list", mutating_list),
        ("inner_compile", lambda a, *r, **k: mx.compile(lambda b: b * 2)(a)),
        ("inner_grad", lambda a, *r, **k: mx.grad(
            lambda b: (b * b).sum())(a)),
        ("inner_vmap", lambda a, *r, **k: mx.vmap(lambda b: b * 2)(a)),
        ("random", lambda a, *r, **k: a + mx.random.uniform(shape=a.shape)),
        ("shape_dep", lambda a, *r, **k: a.reshape(a.shape[0], -1)),
        ("astype_int", lambda a, *r, **k: a.astype(mx.int32)),
        ("index_by_tracer", lambda a, *r, **k: a[a.astype(mx.int32)]),
        ("setitem_tracer", lambda a, *r, **k: _setitem(a)),
        ("disable_inside", lambda a, *r, **k: (mx.disable_compile(), a,
                                               mx.enable_compile())[1]),
        ("clear_cache_inside", lambda a, *r, **k: (
            mx.clear_compile_cache(), a * 2)[1]),
        ("export_inside", lambda a, *r, **k: (
            mx.export_to_dot(_Sink(), a), a)[1]),
        ("gc_inside", lambda a, *r, **k: (gc.collect(), a)[1]),
        ("not_callable", 5),
        ("builtin", len),
        ("type", mx.array),
        ("kiln_fn", mx.exp),
        ("method", mx.array([1.0]).sum),
        ("partial", __import__("functools").partial(lambda a, b: a + b,
                                                    b=1.0)),
    ]
    transforms = [
        ("compile", lambda f: mx.compile(f)),
        ("compile_shapeless", lambda f: mx.compile(f, shapeless=True)),
        ("compile_io", lambda f: mx.compile(f, inputs=[leaked],
                                            outputs=holder)),
        ("compile_state", lambda f: mx.compile(
            f, inputs=mx.random.state, outputs=mx.random.state)),
        ("grad", lambda f: mx.grad(f)),
        ("grad_argnums", lambda f: mx.grad(f, argnums=[0, 1])),
        ("value_and_grad", lambda f: mx.value_and_grad(f)),
        ("vmap", lambda f: mx.vmap(f)),
        ("vmap_axes", lambda f: mx.vmap(f, in_axes=(0, None), out_axes=1)),
        ("vjp", lambda f: lambda *a: mx.vjp(f, list(a), [mx.ones(3)])),
        ("jvp", lambda f: lambda *a: mx.jvp(f, list(a), [mx.ones(3)])),
        ("grad(compile)", lambda f: mx.grad(mx.compile(f))),
        ("compile(grad)", lambda f: mx.compile(mx.grad(f))),
        ("vmap(compile)", lambda f: mx.vmap(mx.compile(f))),
        ("compile(vmap(grad))", lambda f: mx.compile(
            mx.vmap(mx.grad(f)))),
    ]
    arglists = [
        ("x", lambda: (x(),), {}),
        ("x, x", lambda: (x(), x()), {}),
        ("[x]", lambda: ([x()],), {}),
        ("()", lambda: (), {}),
        ("2d", lambda: (mx.ones((2, 3)),), {}),
        ("int", lambda: (mx.array([1, 2, 3]),), {}),
        ("0d", lambda: (mx.array(1.0),), {}),
        ("kw", lambda: (x(),), {"b": x()}),
    ]
    for fn_name, fun in funs:
        for tn, t in transforms:
            if fn_name == "deleting":
                w = fz.call("%s(%s)" % (tn, fn_name), t, fun)
                holder[:] = [w]
                w = None
                fz.call("%s(%s)(x)" % (tn, fn_name), lambda: holder[0](x()))
                holder.clear()
                continue
            w = fz.call("%s(%s)" % (tn, fn_name), t, fun)
            if w is None:
                continue
            for an, af, kw in arglists:
                fz.call("%s(%s)(%s)" % (tn, fn_name, an), w, *af(), **kw)
            if leaked:
                fz.call("leaked + 1", lambda: leaked[-1] + 1)
                fz.call("eval(leaked)", lambda: mx.eval(leaked[-1]))
                fz.call("leaked.tolist()", lambda: leaked[-1].tolist())
                fz.call("np.array(leaked)", lambda: np.array(leaked[-1]))
                fz.call("leaked[0]", lambda: leaked[-1][0])
                fz.call("leaked.shape", lambda: leaked[-1].shape)
                fz.call("repr(leaked)", lambda: repr(leaked[-1]))
                del leaked[:-1]
    # the transform functions themselves with hostile arguments
    for tn in ("compile", "grad", "value_and_grad", "vmap", "vjp", "jvp"):
        t = getattr(mx, tn)
        fz.call("%s()" % tn, t)
        for hn, hf in H:
            fz.call("%s(%s)" % (tn, hn), t, hf())
            fz.call("%s(f, %s)" % (tn, hn), t, lambda a: a * 2, hf())
            fz.call("%s(f, %s, %s)" % (tn, hn, hn), t, lambda a: a * 2,
                    hf(), hf())
            for kw in ("inputs", "outputs", "shapeless", "argnums",
                       "argnames", "in_axes", "out_axes", "primals",
                       "tangents", "cotangents", "fun"):
                w = fz.call("%s(f, %s=%s)" % (tn, kw, hn), t,
                            lambda a, *r, **k: a * 2, **{kw: hf()})
                if callable(w):
                    fz.call("%s(f, %s=%s)(x)" % (tn, kw, hn), w, x())
                    fz.call("%s(f, %s=%s)(x, x)" % (tn, kw, hn), w, x(),
                            x())
            g = t(lambda a, *r, **k: (a * a).sum()) if tn not in (
                "vjp", "jvp") else None
            if g is not None:
                fz.call("%s(f)(%s)" % (tn, hn), g, hf())
                fz.call("%s(f)(x, %s)" % (tn, hn), g, x(), hf())
                fz.call("%s(f)(x, k=%s)" % (tn, hn), g, x(), k=hf())
                fz.call("%s(f)(%s=x)" % (tn, hn), g, **{"k" + hn[:1]: x()})
    # wrapper attributes, mutation and recursion through attributes
    w = mx.compile(lambda a: a + 1)
    for attr in ("__name__", "__qualname__", "__doc__", "__wrapped__",
                 "__dict__", "__module__", "fun", "inputs", "outputs"):
        for hn, hf in H[:20]:
            fz.call("w.%s = %s" % (attr, hn), setattr, w, attr, hf())
        fz.call("del w.%s" % attr, delattr, w, attr)
        fz.call("w.%s" % attr, getattr, w, attr)
    fz.call("w(x) after attribute junk", w, x())
    for m in ("stats", "dump", "clear_cache"):
        f = getattr(w, m, None)
        if f is not None:
            fz.call("w.%s()" % m, f)
            for hn, hf in H[:30]:
                fz.call("w.%s(%s)" % (m, hn), f, hf())
    fz.call("CompiledFunction()", mx.CompiledFunction)
    fz.call("CompiledFunction(f)", mx.CompiledFunction, lambda a: a)
    fz.call("CompiledFunction.__new__()(x)",
            lambda: mx.CompiledFunction.__new__(mx.CompiledFunction)(x()))
    fz.call("CompiledFunction.__new__().stats()",
            lambda: mx.CompiledFunction.__new__(
                mx.CompiledFunction).stats())
    fz.call("repr(CompiledFunction.__new__())",
            lambda: repr(mx.CompiledFunction.__new__(mx.CompiledFunction)))
    # a compiled function whose closure holds itself, collected mid-run
    cyc = {}
    cyc["f"] = mx.compile(lambda a: cyc.clear() or gc.collect() or a * 3)
    fz.call("self-clearing compiled", lambda: cyc["f"](x()))
    # reentrancy: a compiled function calling itself through a global
    box = []
    box.append(mx.compile(lambda a: box[0](a) if a.size > 1 else a))
    fz.call("compiled self-recursion", box[0], x())
    # eval/async_eval/export_to_dot with hostile trees
    for f in (mx.eval, mx.async_eval):
        for hn, hf in H:
            fz.call("%s(%s)" % (f.__name__, hn), f, hf())
            fz.call("%s(x, %s)" % (f.__name__, hn), f, x(), hf())
    for hn, hf in H:
        fz.call("export_to_dot(%s, x)" % hn, mx.export_to_dot, hf(), x())
        fz.call("export_to_dot(sink, %s)" % hn, mx.export_to_dot, _Sink(),
                hf())
    fz.call("export_to_dot(raising sink)", mx.export_to_dot, _BadSink(),
            x() * 2)
    fz.call("export_to_dot(junk-returning sink)", mx.export_to_dot,
            _JunkSink(), x() * 2)


def _raise_system_exit():
    raise SystemExit(3)


def _selfref_with(a):
    l = [a]
    l.append(l)
    return l


def _deep_with(a, n):
    t = a
    for _ in range(n):
        t = [t]
    return t


def _setitem(a):
    a[0] = a[1]
    return a


class _Sink:
    def write(self, s):
        return len(s)


class _BadSink:
    def write(self, s):
        raise OSError("disk full")


class _JunkSink:
    write = 5


def batch_types(fz, rng):
    import kiln as mx
    H = hostile_objects()
    types = [getattr(mx._kiln, n) for n in sorted(dir(mx._kiln))
             if isinstance(getattr(mx._kiln, n), type)]
    for T in types:
        fz.call("%s()" % T.__name__, T)
        fz.call("%s.__new__(%s)" % (T.__name__, T.__name__), T.__new__, T)
        made = []
        for hn, hf in H:
            o = fz.call("%s(%s)" % (T.__name__, hn), T, hf())
            if o is not None:
                made.append(o)
            fz.call("%s(%s, %s)" % (T.__name__, hn, hn), T, hf(), hf())
            fz.call("%s(0, %s)" % (T.__name__, hn), T, 0, hf())
            fz.call("%s(index=%s)" % (T.__name__, hn), T, index=hf())
        try:
            made.append(T.__new__(T))
        except Exception:
            pass
        for o in made[:10]:
            for m in dir(o):
                if m in ("__class__", "__init_subclass__", "__subclasshook__",
                         "__new__", "__del__"):
                    continue
                fz.call("%s.%s" % (T.__name__, m), getattr, o, m)
                a = getattr(o, m, None)
                if callable(a):
                    fz.call("%s.%s()" % (T.__name__, m), a)
                    for hn, hf in rng.sample(H, 6):
                        fz.call("%s.%s(%s)" % (T.__name__, m, hn), a, hf())
            fz.call("hash(%s)" % T.__name__, hash, o)
            fz.call("%s == 1" % T.__name__, lambda: o == 1)
            fz.call("%s == o" % T.__name__, lambda: o == o)
            fz.call("with %s" % T.__name__, _with, o)
    for d in [mx.float32, mx.bfloat16, mx.bool_, mx.floating]:
        for hn, hf in H:
            fz.call("issubdtype(%s, %s)" % (d, hn), mx.issubdtype, d, hf())
            fz.call("issubdtype(%s, %s)" % (hn, d), mx.issubdtype, hf(), d)
            fz.call("finfo(%s)" % hn, mx.finfo, hf())
            fz.call("iinfo(%s)" % hn, mx.iinfo, hf())
            fz.call("%s < %s" % (d, hn), lambda a, b: a < b, d, hf())
            fz.call("%s == %s" % (d, hn), lambda a, b: a == b, d, hf())
    import pickle
    for o in (mx.float32, mx.bool_, mx.cpu, mx.floating,
              mx.finfo(mx.float32), mx.default_stream(mx.cpu)):
        fz.call("pickle(%r)" % type(o).__name__,
                lambda: pickle.loads(pickle.dumps(o)))


def _with(o):
    with o:
        pass


def batch_state(fz, rng):
    """Functions that change process state, each restored after."""
    import kiln as mx
    H = hostile_objects()
    V = valid_objects()
    lim = mx.get_memory_limit()
    nthreads = mx.num_threads()
    for n in sorted(STATEFUL):
        f = getattr(mx, n, None) or getattr(mx.random, n)
        fz.call("%s()" % n, f)
        for hn, hf in H + V:
            if n == "set_num_threads" and hn in ("2**31", "2**32",
                                                 "neg_big"):
                pass
            fz.call("%s(%s)" % (n, hn), f, hf())
            fz.call("%s(%s, %s)" % (n, hn, hn), f, hf(), hf())
            fz.call("work after %s(%s)" % (n, hn),
                    lambda: mx.eval(mx.ones((64, 64)) @ mx.ones((64, 64)) +
                                    mx.random.uniform(shape=(3,))))
            mx.enable_compile()
            mx.set_default_device(mx.cpu)
            mx.set_memory_limit(lim)
            mx.set_num_threads(nthreads)
    fz.call("stream context", lambda: _with(mx.stream(mx.cpu)))
    fz.call("nested stream contexts",
            lambda: [_with(mx.stream(mx.cpu)) for _ in range(3)])
    s = mx.stream(mx.cpu)
    fz.call("enter twice", lambda: (s.__enter__(), s.__enter__(),
                                    s.__exit__(None, None, None),
                                    s.__exit__(None, None, None),
                                    s.__exit__(None, None, None)))
    fz.call("exit bogus", lambda: s.__exit__(1, 2, 3, 4))
    # tiny memory limits make allocations fail inside real work
    for limit in (0, 1, 1024, 2**63, -1):
        fz.call("set_memory_limit(%d)" % limit, mx.set_memory_limit, limit)
        fz.call("work under limit %d" % limit,
                lambda: mx.eval(mx.compile(lambda a: (a @ a).sum())(
                    mx.ones((128, 128)))))
        mx.set_memory_limit(lim)


def batch_huge(fz, rng):
    import numpy as np
    import kiln as mx
    sizes = [2**31, 2**32, 2**40, 2**62, 2**63 - 1, 2**63, 2**64]
    shapes = [(2**40, 2**40), (2**31, 2**31), (2**21,) * 3, (2**16,) * 4,
              (3, 2**62), (2**62, 2**62, 0), (0, 2**63), (2**32, 2**32, 0),
              (1,) * 17, (1,) * 64, (2**31,), (2**33,), (2**30, 8),
              (2,) * 16]
    if NO_RLIMIT:
        sizes = [n for n in sizes if n >= 2**40]
        shapes = [s for s in shapes if not 2**16 < _prod(s) < 2**40]
    for shp in shapes:
        for f in (mx.zeros, mx.ones, lambda s: mx.full(s, 1.0),
                  lambda s: mx.zeros(s, mx.bool_),
                  lambda s: mx.random.uniform(shape=s),
                  lambda s: mx.random.normal(s),
                  lambda s: mx.random.randint(0, 9, s),
                  lambda s: mx.random.bernoulli(0.5, s),
                  lambda s: mx.broadcast_to(mx.array(1.0), s),
                  lambda s: mx.reshape(mx.zeros((0,)), s),
                  lambda s: mx.zeros((2,)).reshape(*s),
                  lambda s: mx.tile(mx.ones((2,)), s),
                  lambda s: mx.expand_dims(mx.ones(()), list(range(len(s)))),
                  lambda s: mx.zeros((0,) + s[1:]).sum(0),
                  lambda s: mx.compile(lambda a: a + 1)(mx.zeros(s))):
            fz.call("%s(%s)" % (getattr(f, "__name__", "f"), shp), f, shp)
    for n in sizes:
        for f in (lambda n: mx.arange(n), lambda n: mx.arange(0, n, 1),
                  lambda n: mx.arange(0.0, float(n), 1e-9),
                  lambda n: mx.arange(-n, n, 1), mx.eye,
                  lambda n: mx.eye(2, n), mx.identity, mx.tri,
                  lambda n: mx.linspace(0, 1, n),
                  lambda n: mx.repeat(mx.ones((2,)), n),
                  lambda n: mx.repeat(mx.ones((2,)), n, axis=0),
                  lambda n: mx.pad(mx.ones((2,)), n),
                  lambda n: mx.pad(mx.ones((2,)), [(0, n)]),
                  lambda n: mx.tile(mx.ones((2,)), n),
                  lambda n: mx.ones((2, 2)).reshape(n, -1),
                  lambda n: mx.split(mx.ones((4,)), n),
                  lambda n: mx.split(mx.ones((4,)), [n, -n]),
                  lambda n: mx.topk(mx.ones((4,)), n),
                  lambda n: mx.partition(mx.ones((4,)), n),
                  lambda n: mx.roll(mx.ones((4,)), n),
                  lambda n: mx.diag(mx.ones((4,)), n),
                  lambda n: mx.diagonal(mx.ones((4, 4)), n),
                  lambda n: mx.triu(mx.ones((4, 4)), n),
                  lambda n: mx.tri(3, 3, n),
                  lambda n: mx.random.categorical(mx.ones((4,)),
                                                  num_samples=n),
                  lambda n: mx.random.randint(0, n, (3,)),
                  lambda n: mx.random.randint(-n, n, (3,), mx.int64),
                  lambda n: mx.random.key(n),
                  lambda n: mx.random.seed(n),
                  lambda n: mx.random.split(mx.random.key(0), n),
                  lambda n: mx.random.permutation(n),
                  lambda n: mx.ones((4,))[n],
                  lambda n: mx.ones((4,))[n:],
                  lambda n: mx.ones((4,))[-n::n],
                  lambda n: mx.ones((4,))[mx.array([n], mx.uint64)],
                  lambda n: mx.left_shift(mx.array(1), n),
                  lambda n: mx.right_shift(mx.array([1], mx.uint8), n),
                  lambda n: mx.array(1, mx.uint8) << n,
                  lambda n: mx.power(mx.array(2), n),
                  lambda n: mx.array(2) ** n,
                  lambda n: mx.full((2,), n),
                  lambda n: mx.full((2,), n, mx.int8),
                  lambda n: mx.array([1], mx.int8) + n,
                  lambda n: mx.array([1], mx.uint64) + n,
                  lambda n: mx.array([1], mx.uint64) * -n,
                  lambda n: mx.clip(mx.ones(3), -n, n),
                  lambda n: mx.round(mx.ones(3), n),
                  lambda n: mx.sum(mx.ones(3), axis=n),
                  lambda n: mx.ones((4,)).flatten(n, -n),
                  lambda n: mx.set_num_threads(n),
                  lambda n: mx.set_memory_limit(n),
                  lambda n: mx.set_cache_limit(n)):
            fz.call("f(%d)" % n, f, n)
            fz.call("f(-%d)" % n, f, -n)
    mx.set_num_threads(2)
    mx.set_memory_limit(mx.get_memory_limit())
    # lazy graphs: deep chains, wide fan-in
    x = mx.ones((3,))
    for _ in range(100000):
        x = x + 1
    fz.call("eval deep chain", mx.eval, x)
    y = mx.ones((2,))
    for _ in range(20000):
        y = mx.exp(y) * 0
    fz.call("repr deep chain", repr, y)
    z = mx.ones((2,))
    for _ in range(20000):
        z = z + 1
    fz.call("grad through deep chain", mx.grad(lambda a: (a * 1).sum() +
                                               z.sum()), mx.ones((2,)))
    fz.call("drop deep chain", lambda: None)
    del x, y, z
    gc.collect()
    fz.call("concatenate 10000", mx.concatenate,
            [mx.ones((1,))] * 10000)
    fz.call("stack 10000 lazies", mx.stack,
            [mx.ones((1,)) + i for i in range(10000)])
    fz.call("array(list of 10000 arrays)", mx.array,
            [mx.array(float(i)) for i in range(10000)])
    fz.call("array(2**20 floats)", mx.array, [1.5] * (2**20))
    fz.call("compile with 3000 inputs", mx.compile(lambda *a: sum(a)),
            *[mx.ones((1,))] * 3000)
    fz.call("vmap over size 0", mx.vmap(lambda a: a * 2), mx.zeros((0, 3)))
    fz.call("grad of size 0", mx.grad(lambda a: a.sum()), mx.zeros((0,)))
    fz.call("np 17-d", mx.array, np.zeros((1,) * 17))
    fz.call("np 32-d", mx.array, np.zeros((1,) * 32))


def _prod(s):
    p = 1
    for n in s:
        p *= n
    return p


def batch_threads(fz, rng):
    """Concurrent use from Python threads: several threads build on, and
    evaluate, one shared pending array (this crashed while evaluation
    released the GIL)."""
    import numpy as np
    import kiln as mx
    errors = []
    shared = [mx.ones((256, 256))]

    def worker(seed):
        r = random.Random(seed)
        f = mx.compile(lambda a: mx.exp(a) * 2 + 1)
        g = mx.grad(lambda a: (a * a).sum())
        try:
            for i in range(150):
                s = shared[0]
                a = mx.random.uniform(shape=(r.randrange(1, 256), 256))
                b = (a @ s).sum(axis=0)
                c = f(a) + s[: a.shape[0]]
                k = r.randrange(4)
                if k == 0:
                    mx.eval(b, c, g(a))
                elif k == 1:
                    np.array(c)
                elif k == 2:
                    c.tolist()
                else:
                    repr(s + b)
                shared[0] = s * 0.5 + b * 0.001
                if i % 50 == 0:
                    mx.clear_cache()
                    mx.clear_compile_cache()
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    fz.call("threads", lambda: _run_threads(worker, 6))
    fz.call("thread errors", lambda: errors and _reraise(errors[0]))


def _reraise(e):
    raise e


def _run_threads(worker, n):
    import threading
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def child(name):
    import faulthandler
    import warnings
    faulthandler.enable()
    warnings.simplefilter("ignore")
    if not os.environ.get("FUZZ_NO_RLIMIT"):
        import resource
        lim = 3 << 30
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    import tempfile
    os.chdir(tempfile.mkdtemp(prefix="kiln-fuzz-"))
    sys.setrecursionlimit(3000)
    fz = Fuzz()
    rng = random.Random("%d-%s" % (SEED, name))
    fns = {"construct": batch_construct, "module_a": batch_module(0),
           "module_b": batch_module(1), "module_c": batch_module(2),
           "mutate_a": batch_mutate(0), "mutate_b": batch_mutate(1),
           "mutate_c": batch_mutate(2),
           "kwargs": batch_kwargs, "random": batch_random,
           "array": batch_array, "index": batch_index,
           "transforms": batch_transforms, "types": batch_types,
           "state": batch_state, "huge": batch_huge,
           "threads": batch_threads}
    fns[name](fz, rng)
    gc.collect()
    fz.call("final gc", gc.collect)
    fz.finish()


if __name__ == "__main__":
    for b in sys.argv[1:] or BATCHES:
        child(b)

# AddressSanitizer run (by hand; not part of the test suite), from the
# repository root after `make` (for build/gen/preamble.c):
#   H=/tmp/h; mkdir -p $H/obj $H/kiln
#   PYINC=$(.venv/bin/python -c \
#       "import sysconfig; print(sysconfig.get_paths()['include'])")
#   EXT=$(.venv/bin/python -c \
#       "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
#   F="-std=c11 -O1 -g -fno-omit-frame-pointer -fsanitize=address -fPIC \
#      -fno-math-errno -fvisibility=hidden -D_POSIX_C_SOURCE=200809L \
#      -D_DEFAULT_SOURCE $(sh scripts/deps.sh cflags) -Iinclude -I$PYINC"
#   for f in src/*/*.c src/*/*/*.c build/gen/preamble.c python/src/*.c; do
#       cc $F -c $f -o $H/obj/$(echo $f | tr / _).o; done
#   cc -shared -fsanitize=address -o $H/kiln/_kiln$EXT $H/obj/*.o \
#       $(sh scripts/deps.sh libs) -lpthread -lm -ldl
#   cp python/kiln/__init__.py $H/kiln/
#   LD_PRELOAD=$(gcc -print-file-name=libasan.so) PYTHONPATH=$H \
#   ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
#   PYTHONMALLOC=malloc FUZZ_NO_RLIMIT=1 KILN_JIT=0 \
#       .venv/bin/python tests/python/test_robustness.py   # every batch
