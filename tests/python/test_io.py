"""save, load, savez, savez_compressed (io.c), with NumPy as the other
reader and writer of the files."""
import io
import os

import numpy as np
import pytest

import kiln as mx

DTYPES = ["bool_", "uint8", "uint16", "uint32", "uint64", "int8", "int16",
          "int32", "int64", "float16", "float32", "float64"]


@pytest.mark.parametrize("name", DTYPES)
def test_npy_round_trip_with_numpy(tmp_path, name):
    dt = getattr(mx, name)
    x = (mx.arange(12) % 5).astype(dt).reshape(3, 4)
    mx.save(str(tmp_path / "a"), x)  # ".npy" added
    n = np.load(tmp_path / "a.npy")
    assert n.dtype == np.array(x).dtype and n.shape == (3, 4)
    assert (n == np.array(x)).all()
    y = mx.load(str(tmp_path / "a.npy"))
    assert y.dtype == dt and y.tolist() == x.tolist()


def test_npy_shapes_views_and_numpy_files(tmp_path):
    for x in [mx.array(3.5), mx.arange(3), mx.zeros((0, 2)),
              mx.arange(6).reshape(2, 3).T, mx.arange(24).reshape(2, 3, 4)]:
        mx.save(tmp_path / "v.npy", x)  # a PathLike
        assert np.array_equal(np.load(tmp_path / "v.npy"), np.array(x))
        y = mx.load(tmp_path / "v.npy")
        assert y.shape == x.shape and y.tolist() == x.tolist()
    f = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    np.save(tmp_path / "f.npy", f)
    assert mx.load(tmp_path / "f.npy").tolist() == f.tolist()


def test_npz(tmp_path):
    mx.savez(tmp_path / "s", mx.arange(3), w=mx.ones((2, 2)))
    z = np.load(tmp_path / "s.npz")
    assert sorted(z.files) == ["arr_0", "w"]
    d = mx.load(tmp_path / "s.npz")
    assert sorted(d) == ["arr_0", "w"] and d["w"].tolist() == [[1, 1]] * 2
    mx.savez_compressed(tmp_path / "c.npz", a=mx.zeros(10000))
    assert os.path.getsize(tmp_path / "c.npz") < 10000
    assert mx.load(tmp_path / "c.npz")["a"].shape == (10000,)
    np.savez(tmp_path / "n.npz", q=np.arange(4, dtype=np.int16))
    q = mx.load(tmp_path / "n.npz")["q"]
    assert q.dtype == mx.int16 and q.tolist() == [0, 1, 2, 3]


def test_file_objects():
    b = io.BytesIO()
    mx.save(b, mx.arange(4))
    b.seek(0)
    assert mx.load(b).tolist() == [0, 1, 2, 3]
    b = io.BytesIO()
    mx.savez(b, k=mx.arange(2))
    b.seek(0)
    assert mx.load(b)["k"].tolist() == [0, 1]


def test_errors(tmp_path):
    with pytest.raises(ValueError):
        mx.save(tmp_path / "b", mx.ones(2, dtype=mx.bfloat16))
    with pytest.raises(FileNotFoundError):
        mx.load(tmp_path / "missing.npy")
    with pytest.raises(TypeError):
        mx.save(3, mx.ones(2))
    (tmp_path / "x.safetensors").write_bytes(b"{}")
    with pytest.raises(ValueError, match="unsupported format"):
        mx.load(tmp_path / "x.safetensors")
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr'")
    with pytest.raises(ValueError):
        mx.load(tmp_path / "bad.npy")
    mx.save(tmp_path / "t.npy", mx.arange(100))
    data = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(data[:-4])
    with pytest.raises(ValueError, match="truncated"):
        mx.load(tmp_path / "t.npy")
    (tmp_path / "h.npy").write_bytes(
        b"\x93NUMPY\x01\x00\x20\x00{'descr': '>f4', 'fortran_order': "
        b"False, 'shape': (1,), }\n" + b"\0" * 4)
    with pytest.raises(ValueError):
        mx.load(tmp_path / "h.npy")  # big-endian


def test_review_edges(tmp_path):
    class Fresh:  # __fspath__ returns a new string every time
        def __init__(self, p):
            self.p = str(p)

        def __fspath__(self):
            return "".join(list(self.p))

    mx.save(tmp_path / "q.npy", mx.arange(3))
    assert mx.load(Fresh(tmp_path / "q.npy")).tolist() == [0, 1, 2]
    d = tmp_path / "my.dir"
    d.mkdir()
    mx.save(d / "data.npy", mx.arange(2))
    os.rename(d / "data.npy", d / "data")  # no extension: sniffed
    assert mx.load(d / "data").tolist() == [0, 1]
    with pytest.raises(ValueError):
        mx.savez(tmp_path / "p.npz", mx.ones(2),
                 b=mx.ones(2, dtype=mx.bfloat16))
    assert not (tmp_path / "p.npz").exists()  # nothing half-written
    with pytest.raises(ValueError, match="two arrays"):
        mx.savez(tmp_path / "d.npz", mx.ones(2), arr_0=mx.ones(2))
