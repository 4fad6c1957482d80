"""Where the project keeps its files, and how it writes them safely.

No TensorFlow or Keras here: the command checks its write paths with these
helpers before it imports a backend.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path


def project_home() -> Path:
    """Root of cached data and stored runs.

    ``RNN_MNIST_HOME`` wins; otherwise ``~/.cache/rnn-mnist``. The repository's
    Makefile points it at ``.cache/rnn-mnist`` inside the checkout.
    """
    configured = os.environ.get("RNN_MNIST_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "rnn-mnist"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    The temporary file is created with mode 0o666, so the process's umask
    decides its permissions, as for any new file; the umask is never changed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def atomic_write_npz(path: Path, **arrays) -> None:
    """``numpy.savez_compressed`` to ``path`` through :func:`atomic_write_bytes`."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def exclusive_lock(lock_path: Path):
    """Hold an exclusive advisory lock on ``lock_path`` (waits for other holders)."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def default_runs_dir() -> Path:
    """``RNN_MNIST_RUNS`` if set, else ``<project home>/runs``."""
    configured = os.environ.get("RNN_MNIST_RUNS")
    return Path(configured).expanduser() if configured else project_home() / "runs"


class StorageError(OSError):
    """A place the project must write to cannot be written; the message says which and why."""


def require_writable_directory(path: Path, what: str) -> Path:
    """Create ``path`` if needed and check that a file can be written in it.

    Raises :class:`StorageError` with one sentence naming ``path``, ``what``
    it is for and the reason (a file in the way, a file among its parents, no
    permission, a file system that takes no files such as ``/proc``).
    """
    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StorageError(f"{what} {path} is a file, not a directory") from None
    except NotADirectoryError:
        blocker = next((p for p in reversed(path.parents) if p.exists() and not p.is_dir()), None)
        where = f"{blocker} is a file" if blocker is not None else "one of its parents is a file"
        raise StorageError(f"{what} {path} cannot be created: {where}") from None
    except OSError as error:
        raise StorageError(f"{what} {path} cannot be created: {error.strerror or error}") from None
    try:
        with tempfile.TemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as error:
        raise StorageError(f"{what} {path} is not writable: {error.strerror or error}") from None
    return path


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def lock_if_free(lock_path: Path):
    """Like :func:`exclusive_lock`, without waiting: yields ``False`` (and holds nothing) if another holds it."""
    lock_path = Path(lock_path)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def move_aside(path: Path, reason: str) -> Path:
    """Rename ``path`` to ``<path>.<reason>-<UTC time>`` (never deletes it); returns the new path."""
    path = Path(path)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.{reason}-{stamp}")
    counter = 1
    while target.exists():
        counter += 1
        target = path.with_name(f"{path.name}.{reason}-{stamp}-{counter}")
    path.rename(target)
    return target


def warn(message: str) -> None:
    """One line on stderr, prefixed ``rnn-mnist: warning:``."""
    print(f"rnn-mnist: warning: {message}", file=sys.stderr, flush=True)
