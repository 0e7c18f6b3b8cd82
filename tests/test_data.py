"""Tests of d2lstab.data, all offline: Fashion-MNIST is exercised on IDX files
the tests write themselves, served through file:// URLs for the download path."""
import gzip
import hashlib
import os
import struct
import time

import numpy as onp
import pytest

import d2lstab as d2l
from d2lstab import data


def _all(loader):
    X, y = zip(*[(X.asnumpy(), y.asnumpy()) for X, y in loader])
    return onp.concatenate(X), onp.concatenate(y)


def test_digits_shapes_ranges_and_split():
    train_iter, test_iter = d2l.data.load_digits(batch_size=100)
    Xtr, ytr = _all(train_iter)
    Xte, yte = _all(test_iter)
    assert Xtr.shape[0] + Xte.shape[0] == 1797
    assert Xte.shape == (360, 64) and Xtr.shape == (1437, 64)
    assert Xtr.dtype == onp.float32 and Xtr.min() >= 0 and Xtr.max() <= 1 and Xtr.max() == 1
    assert onp.issubdtype(ytr.dtype, onp.integer) and set(onp.unique(ytr)) == set(range(10))
    # stratified: each class's share in the test set matches the whole set to within one example
    from sklearn.datasets import load_digits
    full = onp.bincount(load_digits().target) / 1797
    assert onp.all(onp.abs(onp.bincount(yte) - full * 360) <= 1)
    # the batches: all full but the last
    sizes = [y.shape[0] for _, y in test_iter]
    assert sizes == [100, 100, 100, 60]


def test_digits_split_reproducible_and_seeded():
    a = _all(d2l.data.load_digits(64, seed=0)[1])
    b = _all(d2l.data.load_digits(64, seed=0)[1])
    c = _all(d2l.data.load_digits(64, seed=1)[1])
    assert onp.array_equal(a[0], b[0]) and onp.array_equal(a[1], b[1])
    assert not onp.array_equal(a[0], c[0])


def test_digits_train_order_follows_seed():
    d2l.seed(3)
    first = _all(d2l.data.load_digits(64)[0])[1]
    d2l.seed(3)
    again = _all(d2l.data.load_digits(64)[0])[1]
    assert onp.array_equal(first, again)


@pytest.mark.parametrize("kwargs, exc, name", [
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"batch_size": 2.5}, TypeError, "batch_size"),
    ({"batch_size": 8, "test_size": 1.0}, ValueError, "test_size"),
    ({"batch_size": 8, "test_size": 0}, ValueError, "test_size"),
    ({"batch_size": 8, "seed": -3}, ValueError, "seed"),
])
def test_digits_rejects(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        d2l.data.load_digits(**kwargs)


@pytest.mark.parametrize("make", [d2l.data.make_circles, d2l.data.make_moons])
def test_toy_sets(make):
    X, y = make(n=200, seed=1)
    assert X.shape == (200, 2) and X.dtype == onp.float32
    assert y.shape == (200,) and set(onp.unique(y)) == {0, 1} and onp.bincount(y).tolist() == [100, 100]
    X2, _ = make(n=200, seed=1)
    X3, _ = make(n=200, seed=2)
    assert onp.array_equal(X, X2) and not onp.array_equal(X, X3)


def test_circles_geometry():
    X, y = d2l.data.make_circles(n=400, noise=0.0, factor=0.3)
    r = onp.linalg.norm(X, axis=1)
    assert onp.allclose(r[y == 0], 1.0, atol=1e-5) and onp.allclose(r[y == 1], 0.3, atol=1e-5)


@pytest.mark.parametrize("call, exc, name", [
    (lambda: d2l.data.make_circles(n=1), ValueError, "n must"),
    (lambda: d2l.data.make_circles(noise=-0.1), ValueError, "noise"),
    (lambda: d2l.data.make_circles(factor=1.0), ValueError, "factor"),
    (lambda: d2l.data.make_moons(n="300"), TypeError, "n must"),
])
def test_toy_rejects(call, exc, name):
    with pytest.raises(exc, match=name):
        call()


def test_load_array_rejects_mismatch():
    with pytest.raises(ValueError, match="same number of rows"):
        d2l.data.load_array(onp.zeros((3, 2)), onp.zeros(4), 2)


# --- Fashion-MNIST, on IDX files written here --------------------------------

def _idx_bytes(array, code):
    header = bytes([0, 0, code, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write_fashion(root, n_train=12, n_test=5, gz=True, rng=None):
    rng = rng or onp.random.default_rng(0)
    sets = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=onp.uint8)
        labels = rng.integers(0, 10, size=(n,), dtype=onp.uint8)
        sets[prefix] = (images, labels)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte"
            raw = _idx_bytes(arr, 0x08)
            if gz:
                with gzip.open(os.path.join(root, name + ".gz"), "wb") as f:
                    f.write(raw)
            else:
                with open(os.path.join(root, name), "wb") as f:
                    f.write(raw)
    return sets


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_reads_local_files(tmp_path, gz):
    sets = _write_fashion(tmp_path, gz=gz)
    train_iter, test_iter = d2l.data.load_fashion_mnist(4, root=str(tmp_path), download=False)
    Xte, yte = _all(test_iter)
    assert Xte.shape == (5, 1, 28, 28) and Xte.dtype == onp.float32
    assert onp.allclose(Xte[:, 0] * 255, sets["t10k"][0])
    assert onp.array_equal(yte, sets["t10k"][1])
    Xtr, ytr = _all(train_iter)
    assert Xtr.shape == (12, 1, 28, 28)
    assert sorted(ytr.tolist()) == sorted(sets["train"][1].tolist())


def test_read_idx_types_and_errors(tmp_path):
    arr = onp.arange(24, dtype=">i4").reshape(2, 3, 4)
    path = tmp_path / "x.idx"
    path.write_bytes(_idx_bytes(arr.astype(onp.int32), 0x0C))
    assert onp.array_equal(d2l.data.read_idx(str(path)), arr)
    path.write_bytes(b"\x01\x00\x08\x01")
    with pytest.raises(ValueError, match="not an IDX file"):
        d2l.data.read_idx(str(path))
    path.write_bytes(_idx_bytes(onp.zeros(10, onp.uint8), 0x08)[:-3])
    with pytest.raises(ValueError, match="truncated"):
        d2l.data.read_idx(str(path))


def test_fashion_downloads_and_verifies(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    _write_fashion(mirror)
    sums = {name: hashlib.sha1((mirror / name).read_bytes()).hexdigest() for name in data.FASHION_MNIST_FILES}
    monkeypatch.setattr(data, "FASHION_MNIST_URL", mirror.as_uri() + "/")
    monkeypatch.setattr(data, "FASHION_MNIST_FILES", sums)
    root = tmp_path / "cache"
    train_iter, _ = d2l.data.load_fashion_mnist(6, root=str(root))
    assert sorted(os.listdir(root)) == sorted(sums)
    assert sum(y.shape[0] for _, y in train_iter) == 12
    # a corrupted mirror file is rejected and not kept
    bad = dict(sums, **{"t10k-labels-idx1-ubyte.gz": "0" * 40})
    monkeypatch.setattr(data, "FASHION_MNIST_FILES", bad)
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        d2l.data.load_fashion_mnist(6, root=str(root))
    assert not (root / "t10k-labels-idx1-ubyte.gz").exists()
    assert not (root / "t10k-labels-idx1-ubyte.gz.part").exists()


def test_fashion_offline_fails_at_once_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "FASHION_MNIST_URL", (tmp_path / "nowhere").as_uri() + "/")
    tic = time.perf_counter()
    with pytest.raises(RuntimeError) as info:
        d2l.data.load_fashion_mnist(8, root=str(tmp_path / "fm"))
    assert time.perf_counter() - tic < 5
    message = str(info.value)
    for name in data.FASHION_MNIST_FILES:
        assert os.path.join(str(tmp_path / "fm"), name) in message


def test_fashion_no_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=False"):
        d2l.data.load_fashion_mnist(8, root=str(tmp_path), download=False)


@pytest.mark.parametrize("kwargs, exc, name", [
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"batch_size": 1, "root": 3}, TypeError, "root"),
    ({"batch_size": 1, "resize": 0}, ValueError, "resize"),
    ({"batch_size": 1, "timeout": 0}, ValueError, "timeout"),
])
def test_fashion_rejects(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        d2l.data.load_fashion_mnist(**kwargs)


def test_fashion_resize(tmp_path):
    _write_fashion(tmp_path)
    _, test_iter = d2l.data.load_fashion_mnist(5, root=str(tmp_path), resize=14, download=False)
    X, _ = _all(test_iter)
    assert X.shape == (5, 1, 14, 14)
    assert 0 <= X.min() and X.max() <= 1


# --- ArrayLoader: the same batches as gluon.data.DataLoader, faster ------------

def _gluon_loader(X, y, batch_size, shuffle):
    """What load_array returned before ArrayLoader: MXNet's own DataLoader."""
    from mxnet import gluon, np

    dataset = gluon.data.ArrayDataset(np.array(X), np.array(y))
    return gluon.data.DataLoader(dataset, batch_size, shuffle=shuffle)


def _epochs(loader, n):
    """n epochs from one loader object, with everything a consumer can observe of each batch."""
    return [[(type(a).__name__, a.dtype, a.shape, str(a.ctx), a.asnumpy()) for a in batch]
            for _ in range(n) for batch in loader]


_RS = onp.random.RandomState(1)
_ARRAYS = {
    "digits-like": (_RS.rand(103, 5).astype(onp.float32), _RS.randint(0, 10, 103).astype(onp.int32)),
    "3-d float64, int64 labels": (_RS.rand(64, 2, 3), _RS.randint(0, 3, 64).astype(onp.int64)),
    "float labels": (_RS.rand(10, 4).astype(onp.float32), _RS.rand(10).astype(onp.float32)),
    "2-d labels": (_RS.rand(10, 4).astype(onp.float32), _RS.rand(10, 2).astype(onp.float32)),
}


@pytest.mark.parametrize("name", list(_ARRAYS))
@pytest.mark.parametrize("batch_size", [1, 7, 64, 200])
@pytest.mark.parametrize("shuffle", [True, False])
def test_array_loader_yields_exactly_gluons_batches(name, batch_size, shuffle):
    from mxnet import gluon

    X, y = _ARRAYS[name]
    loader = d2l.data.load_array(X, y, batch_size, shuffle=shuffle)
    assert isinstance(loader, gluon.data.DataLoader) and len(loader) == -(-len(X) // batch_size)
    d2l.seed(3)
    expected = _epochs(_gluon_loader(X, y, batch_size, shuffle), 3)
    after_expected = onp.random.rand()  # the global generator was drawn from the same way
    d2l.seed(3)
    got = _epochs(loader, 3)
    assert onp.random.rand() == after_expected
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert [a[:4] for a in g] == [a[:4] for a in e]
        assert all(onp.array_equal(a[4], b[4]) for a, b in zip(g, e))


def test_array_loader_draws_when_the_first_batch_is_asked_for():
    X, y = _ARRAYS["digits-like"]
    loader = d2l.data.load_array(X, y, 16)
    d2l.seed(0)
    it = iter(loader)
    untouched = onp.random.get_state()[1].copy()
    d2l.seed(0)
    assert onp.array_equal(onp.random.get_state()[1], untouched)  # iter() alone draws nothing
    first = next(it)[1].asnumpy()
    d2l.seed(0)
    assert onp.array_equal(next(iter(_gluon_loader(X, y, 16, True)))[1].asnumpy(), first)


def test_array_loader_batches_are_copies():
    X, y = _ARRAYS["digits-like"]
    loader = d2l.data.load_array(X, y, 8, shuffle=False)
    batch = next(iter(loader))
    batch[0][:] = -1  # a reader's in-place edit of a batch ...
    again = next(iter(loader))
    assert onp.array_equal(again[0].asnumpy(), X[:8])  # ... never reaches the data or the next epoch


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_load_digits_dtype(dtype):
    train_iter, test_iter = d2l.data.load_digits(64, dtype=dtype)
    X, y = next(iter(train_iter))
    assert X.dtype == onp.dtype(dtype) and y.dtype == onp.int32
    X32, _ = next(iter(d2l.data.load_digits(64, dtype="float32")[1]))
    X64, _ = next(iter(d2l.data.load_digits(64, dtype="float64")[1]))
    assert (X64.asnumpy() == X32.asnumpy().astype("float64")).all()  # k/16 is exact in both


def test_load_digits_rejects_other_dtypes():
    with pytest.raises(ValueError, match="dtype"):
        d2l.data.load_digits(64, dtype="float16")
