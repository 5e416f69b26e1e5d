"""Devices and streams (honest CPU-only), kiln.metal / kiln.cuda, threads."""
import pickle
import warnings

import pytest

import kiln as mx


def test_device_types_and_devices():
    assert repr(mx.cpu) == "DeviceType.cpu" and repr(mx.gpu) == "DeviceType.gpu"
    assert mx.DeviceType.cpu is mx.cpu and mx.DeviceType.gpu is mx.gpu
    assert mx.cpu.name == "cpu" and mx.gpu.value == 1
    d = mx.Device(mx.cpu)
    assert repr(d) == "Device(cpu, 0)"
    assert repr(mx.Device(mx.gpu, 1)) == "Device(gpu, 1)"
    assert d.type is mx.cpu and d.index == 0
    assert mx.Device(type=mx.cpu, index=0) == d


def test_equality_and_hash():
    d = mx.Device(mx.cpu, 0)
    assert d == mx.cpu and mx.cpu == d
    assert d != mx.gpu and mx.cpu != mx.gpu
    assert mx.Device(mx.cpu, 1) != mx.cpu
    assert d != "cpu" and not (d == 0)
    assert hash(d) == hash(mx.cpu)
    assert len({d, mx.cpu, mx.Device(mx.cpu)}) == 1
    assert pickle.loads(pickle.dumps(mx.cpu)) is mx.cpu


def test_device_constructor_errors():
    with pytest.raises(TypeError):
        mx.Device("cpu")
    with pytest.raises(TypeError):
        mx.Device(mx.cpu, "0")
    with pytest.raises(ValueError):
        mx.Device(mx.cpu, -1)


def test_default_device_is_the_cpu():
    assert mx.default_device() == mx.Device(mx.cpu, 0)
    mx.set_default_device(mx.cpu)
    mx.set_default_device(mx.Device(mx.cpu))
    assert mx.default_device() == mx.cpu


def test_gpu_is_refused():
    with pytest.raises(ValueError):
        mx.set_default_device(mx.gpu)
    with pytest.raises(ValueError):
        mx.set_default_device(mx.Device(mx.gpu))
    with pytest.raises(ValueError):
        mx.set_default_device(mx.Device(mx.cpu, 3))
    with pytest.raises(TypeError):
        mx.set_default_device("cpu")
    with pytest.raises(ValueError):
        mx.new_stream(mx.gpu)
    with pytest.raises(ValueError):
        mx.default_stream(mx.gpu)
    with pytest.raises(ValueError):
        mx.stream(mx.gpu)
    with pytest.raises(ValueError):
        mx.device_info(mx.gpu)
    assert mx.default_device() == mx.cpu


def test_streams():
    mx.clear_streams()
    s = mx.default_stream(mx.cpu)
    assert repr(s) == "Stream(Device(cpu, 0), 0)"
    assert s.device == mx.cpu and s.index == 0
    assert s == mx.default_stream(mx.default_device())
    t = mx.new_stream(mx.cpu)
    u = mx.new_stream(mx.Device(mx.cpu))
    assert t != s and u != t and t.index != u.index
    assert t == t and hash(t) == hash(t)
    assert t != mx.cpu
    mx.set_default_stream(t)
    assert mx.default_stream(mx.cpu) == t
    mx.clear_streams()
    assert mx.default_stream(mx.cpu) == s
    with pytest.raises(TypeError):
        mx.set_default_stream(mx.cpu)
    with pytest.raises(TypeError):
        mx.Stream()


def test_stream_context_manager():
    mx.clear_streams()
    s0 = mx.default_stream(mx.cpu)
    t = mx.new_stream(mx.cpu)
    with mx.stream(t) as ctx:
        assert isinstance(ctx, mx.StreamContext)
        assert mx.default_stream(mx.cpu) == t
        x = mx.multiply(mx.array([1.0, 2.0]), 2)
        assert x.tolist() == [2.0, 4.0]
    assert mx.default_stream(mx.cpu) == s0
    with mx.stream(mx.cpu):
        assert mx.default_device() == mx.cpu
        assert mx.default_stream(mx.cpu) == s0
    with mx.StreamContext(mx.Device(mx.cpu)):
        pass
    # restored even when the block raises
    with pytest.raises(KeyError):
        with mx.stream(t):
            raise KeyError("x")
    assert mx.default_stream(mx.cpu) == s0
    with pytest.raises(RuntimeError):
        mx.stream(None)
    with pytest.raises(TypeError):
        mx.stream("cpu")


def test_synchronize():
    assert mx.synchronize() is None
    assert mx.synchronize(mx.default_stream(mx.cpu)) is None
    assert mx.synchronize(stream=None) is None
    with pytest.raises(TypeError):
        mx.synchronize(mx.cpu)


def test_availability_and_info():
    assert mx.is_available(mx.cpu) is True
    assert mx.is_available(mx.gpu) is False
    assert mx.device_count(mx.cpu) == 1 and mx.device_count(mx.gpu) == 0
    info = mx.device_info()
    assert info == mx.device_info(mx.cpu)
    assert info["memory_size"] > 0 and isinstance(info["architecture"], str)
    assert mx.metal.is_available() is False
    assert mx.cuda.is_available() is False
    with pytest.raises(ValueError):
        mx.metal.device_info()


def test_metal_memory_aliases_warn_and_forward():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert mx.metal.get_active_memory() >= 0
        assert mx.metal.get_cache_memory() >= 0
        old = mx.metal.set_wired_limit(0)
        assert mx.set_wired_limit(old) == 0
    assert w and all(issubclass(x.category, DeprecationWarning) for x in w)


def test_import_submodules():
    import kiln.metal
    import kiln.random
    from kiln import metal, random  # noqa: F401
    assert kiln.metal is mx.metal


def test_num_threads():
    n = mx.num_threads()
    assert n >= 1
    try:
        mx.set_num_threads(1)
        assert mx.num_threads() == 1
        assert mx.multiply(mx.arange(10), 2).tolist() == list(range(0, 20, 2))
    finally:
        mx.set_num_threads(n)
    assert mx.num_threads() == n
    with pytest.raises(ValueError):
        mx.set_num_threads(0)
    with pytest.raises(TypeError):
        mx.set_num_threads(1.5)


def test_stream_keyword_accepted_by_random():
    s = mx.default_stream(mx.cpu)
    k = mx.random.key(0)
    assert mx.random.uniform(shape=(2,), key=k, stream=s).shape == (2,)
    assert mx.random.split(k, stream=mx.cpu).shape == (2, 2)


def test_module_constants():
    import math
    assert mx.pi == math.pi and mx.e == math.e
    assert mx.inf == math.inf and math.isnan(mx.nan)
    assert mx.newaxis is None
    assert abs(mx.euler_gamma - 0.5772156649015329) < 1e-16


def test_import_leaves_openblas_num_threads_as_it_was():
    import os
    import subprocess
    import sys
    code = ("import os, kiln; "
            "print(os.environ.get('OPENBLAS_NUM_THREADS', 'unset'))")
    for val in (None, "3"):
        env = dict(os.environ)
        env.pop("OPENBLAS_NUM_THREADS", None)
        if val:
            env["OPENBLAS_NUM_THREADS"] = val
        out = subprocess.run([sys.executable, "-c", code], env=env,
                             capture_output=True, text=True, check=True)
        assert out.stdout.strip() == (val or "unset")
