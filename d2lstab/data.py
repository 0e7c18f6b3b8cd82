"""Data sets for the chapters: small, offline and reproducible.

* ``load_digits``: scikit-learn's 1,797 handwritten 8x8 digits, shipped with
  the package, so every chapter runs with no network.
* ``make_circles`` / ``make_moons``: 2-D toy problems for decision boundaries.
* ``load_fashion_mnist``: the 70,000 28x28 Fashion-MNIST images, read from
  the four IDX files, downloaded (and SHA-1 verified) only when missing.
"""
import functools
import gzip
import hashlib
import os
import struct
import urllib.error
import urllib.request

import numpy as onp

from . import _validate as check

__all__ = ["load_digits", "make_circles", "make_moons", "load_fashion_mnist",
           "load_array", "read_idx", "FASHION_MNIST_URL", "FASHION_MNIST_FILES"]


@functools.lru_cache(maxsize=None)
def _array_loader_class():
    """``ArrayLoader``, defined on first use (MXNet is imported lazily)."""
    from mxnet import gluon, np

    class ArrayLoader(gluon.data.DataLoader):
        """A Gluon ``DataLoader`` over in-memory arrays that gathers each epoch at once.

        It yields exactly the batches of ``gluon.data.DataLoader`` (same order,
        same values, same dtypes, the same draws from NumPy's global generator,
        made at the same moment: when the first batch is asked for), but
        instead of indexing the data set one example at a time and stacking,
        it takes the whole epoch's rows in one operation per array and hands
        out consecutive slices of that fresh copy. The per-batch cost of
        MXNet's loader (about half a millisecond here) is what a small network
        on the digits spends most of its time on.
        """

        def __init__(self, arrays, batch_size, shuffle=False):
            """``arrays``: MXNet arrays with one row per example (features, labels)."""
            super().__init__(gluon.data.ArrayDataset(*arrays), batch_size, shuffle=shuffle)
            self._columns = list(arrays)

        def _prefetch_iter(self):
            def epoch():
                batches = list(self._batch_sampler)
                if not batches:
                    return
                order = np.array(onp.concatenate(batches).astype(onp.int64), dtype="int64")
                rows = [c.take(order, axis=0) for c in self._columns]
                start = 0
                for batch in batches:
                    stop = start + len(batch)
                    yield [r[start:stop] for r in rows]
                    start = stop
            return epoch()

    return ArrayLoader


def load_array(features, labels, batch_size, shuffle=True):
    """A Gluon ``DataLoader`` over NumPy (or MXNet) ``features`` and ``labels``.

    Shuffling uses NumPy's global generator, so ``d2l.seed`` fixes the order.
    The loader is an ``ArrayLoader``: a ``gluon.data.DataLoader`` that yields
    the same batches, gathered one epoch at a time (much faster for small
    batches).
    """
    from mxnet import np

    batch_size = check.integer("batch_size", batch_size, minimum=1)
    check.boolean("shuffle", shuffle)
    features = features if isinstance(features, np.ndarray) else np.array(features)
    labels = labels if isinstance(labels, np.ndarray) else np.array(labels)
    if features.shape[0] != labels.shape[0]:
        raise ValueError(
            f"features and labels must have the same number of rows, got "
            f"{features.shape[0]} and {labels.shape[0]}")
    return _array_loader_class()((features, labels), batch_size, shuffle=shuffle)


def load_digits(batch_size, test_size=0.2, seed=0, dtype="float32"):
    """The scikit-learn digits as ``(train_iter, test_iter)`` Gluon DataLoaders.

    Features are float32 (or ``dtype``: ``"float64"``, the precision the
    book computes in) in [0, 1] (the raw pixels 0..16 divided by 16), shape
    ``(n, 64)``; labels are int32 class indices 0..9. The split is stratified
    by class and fixed by ``seed``; the training loader reshuffles every
    epoch (with NumPy's global generator), the test loader does not.
    """
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.model_selection import train_test_split

    batch_size = check.integer("batch_size", batch_size, minimum=1)
    test_size = check.in_range("test_size", test_size, 0, 1, low_closed=False, high_closed=False)
    seed = check.integer("seed", seed, minimum=0, maximum=2**32 - 1)
    dtype = check.one_of("dtype", dtype, ("float32", "float64"))
    digits = _sk_load_digits()
    X = (digits.data / 16.0).astype(dtype)
    y = digits.target.astype(onp.int32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=y)
    return (load_array(X_train, y_train, batch_size, shuffle=True),
            load_array(X_test, y_test, batch_size, shuffle=False))


def _check_toy(n, noise, seed):
    n = check.integer("n", n, minimum=2)
    noise = check.non_negative("noise", noise)
    seed = check.integer("seed", seed, minimum=0, maximum=2**32 - 1)
    return n, noise, seed


def make_circles(n=300, noise=0.05, factor=0.5, seed=0):
    """Two concentric circles: ``(X, y)`` NumPy arrays, X float32 (n, 2), y int32.

    ``factor`` is the inner radius relative to the outer one, in (0, 1).
    """
    from sklearn.datasets import make_circles as _sk_make_circles

    n, noise, seed = _check_toy(n, noise, seed)
    factor = check.in_range("factor", factor, 0, 1, low_closed=False, high_closed=False)
    X, y = _sk_make_circles(n_samples=n, noise=noise, factor=factor, random_state=seed)
    return X.astype(onp.float32), y.astype(onp.int32)


def make_moons(n=300, noise=0.1, seed=0):
    """Two interleaving half circles: ``(X, y)`` NumPy arrays, X float32 (n, 2), y int32."""
    from sklearn.datasets import make_moons as _sk_make_moons

    n, noise, seed = _check_toy(n, noise, seed)
    X, y = _sk_make_moons(n_samples=n, noise=noise, random_state=seed)
    return X.astype(onp.float32), y.astype(onp.int32)


# Where MXNet's own gluon.data.vision.FashionMNIST fetches the files, and
# their SHA-1 sums (the same ones MXNet 1.9.1 verifies).
FASHION_MNIST_URL = "https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/gluon/dataset/fashion-mnist/"
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "0cf37b0d40ed5169c6b3aba31069a9770ac9043d",
    "train-labels-idx1-ubyte.gz": "236021d52f1e40852b06a4c3008d8de8aef1e40b",
    "t10k-images-idx3-ubyte.gz": "626ed6a7c06dd17c0eec72fa3be1740f146a2863",
    "t10k-labels-idx1-ubyte.gz": "17f9ab60e7257a1620f4ad76bbbaf857c3920701",
}

_IDX_DTYPES = {0x08: onp.uint8, 0x09: onp.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """Read an IDX file (gzip-compressed or not) into a NumPy array.

    The format (LeCun's MNIST page): two zero bytes, a type code, the number
    of dimensions, one big-endian uint32 per dimension, then the data.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated: its header promises {ndim} dimensions")
    dims = struct.unpack(">" + "I" * ndim, raw[4:header])
    dtype = onp.dtype(_IDX_DTYPES[raw[2]])
    count = int(onp.prod(dims)) if dims else 1
    if len(raw) - header != count * dtype.itemsize:
        raise ValueError(
            f"{path} is truncated or padded: expected {count * dtype.itemsize} data bytes "
            f"for shape {dims}, found {len(raw) - header}")
    return onp.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _sha1(path):
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _locate(root, name):
    """The path of ``name`` in ``root``, gzipped or not, or None."""
    for candidate in (name, name[:-3]):
        path = os.path.join(root, candidate)
        if os.path.exists(path):
            return path
    return None


def _download(name, root, timeout):
    """Fetch ``name`` into ``root`` and verify its SHA-1; return the path."""
    url = FASHION_MNIST_URL + name
    path = os.path.join(root, name)
    tmp = path + ".part"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            while True:
                block = response.read(1 << 20)
                if not block:
                    break
                out.write(block)
    except (urllib.error.URLError, OSError) as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        missing = "\n".join(f"  {os.path.join(root, n)}" for n in FASHION_MNIST_FILES)
        raise RuntimeError(
            f"could not download {url} ({exc}). With no network, put the four "
            f"Fashion-MNIST files (gzipped or not) here and call again:\n{missing}"
        ) from exc
    expected = FASHION_MNIST_FILES[name]
    actual = _sha1(tmp)
    if actual != expected:
        os.remove(tmp)
        raise RuntimeError(
            f"checksum mismatch for {url}: expected SHA-1 {expected}, got {actual}; "
            "the download was corrupted or the file changed, and it was deleted")
    os.replace(tmp, path)
    return path


def load_fashion_mnist(batch_size, root='~/.mxnet/datasets/fashion-mnist', resize=None,
                       download=True, timeout=30):
    """Fashion-MNIST as ``(train_iter, test_iter)`` Gluon DataLoaders.

    Images are float32 in [0, 1] with shape ``(1, 28, 28)`` (or
    ``(1, resize, resize)``), labels int32. The four IDX files are read from
    ``root``; those missing are downloaded from MXNet's mirror and checked
    against their SHA-1 sums. With no network (or ``download=False``) it
    fails at once with a message listing which files to put where.
    """
    from mxnet import np

    batch_size = check.integer("batch_size", batch_size, minimum=1)
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path, got {type(root).__name__}")
    if resize is not None:
        resize = check.integer("resize", resize, minimum=1)
    check.boolean("download", download)
    timeout = check.positive("timeout", timeout)
    root = os.path.expanduser(os.fspath(root))
    paths = {}
    for name in FASHION_MNIST_FILES:
        path = _locate(root, name)
        if path is None:
            if not download:
                missing = "\n".join(f"  {os.path.join(root, n)}" for n in FASHION_MNIST_FILES)
                raise FileNotFoundError(
                    f"{os.path.join(root, name)} is missing and download=False; put the four "
                    f"Fashion-MNIST files (gzipped or not) here:\n{missing}")
            os.makedirs(root, exist_ok=True)
            path = _download(name, root, timeout)
        paths[name] = path

    def split(prefix):
        images = read_idx(paths[f"{prefix}-images-idx3-ubyte.gz"])
        labels = read_idx(paths[f"{prefix}-labels-idx1-ubyte.gz"])
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"{prefix} files do not match: images {images.shape}, labels {labels.shape}")
        X = images.astype(onp.float32)[:, None, :, :] / 255.0
        if resize is not None and resize != X.shape[-1]:
            from mxnet import npx
            X = npx.image.resize(np.array(X.transpose(0, 2, 3, 1)), (resize, resize)).asnumpy()
            X = X.transpose(0, 3, 1, 2)
        return X, labels.astype(onp.int32)

    X_train, y_train = split("train")
    X_test, y_test = split("t10k")
    return (load_array(X_train, y_train, batch_size, shuffle=True),
            load_array(X_test, y_test, batch_size, shuffle=False))
