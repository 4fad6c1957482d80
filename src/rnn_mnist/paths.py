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
import socket
import stat
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


def _open_lock(lock_path: Path, *, create: bool) -> int | None:
    """A descriptor on the lock file, never following a link; ``None`` if it is absent and ``create`` is False.

    Opened read-only when it exists (an advisory lock needs no write access,
    so a read-only store can still be checked), created otherwise. A lock that
    is a symbolic link, a directory or anything but a plain file is refused
    with a :class:`StorageError` that names it.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(lock_path, flags)
    except FileNotFoundError:
        if not create:
            return None
        try:
            descriptor = os.open(lock_path, flags | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # another process created it just now
            return _open_lock(lock_path, create=create)
    except OSError as error:
        if os.path.islink(lock_path):
            raise StorageError(f"the lock file {lock_path} is a symbolic link; the run store holds no links, "
                               "remove it") from None
        raise StorageError(f"the lock file {lock_path} cannot be opened: {error.strerror or error}") from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise StorageError(f"the lock file {lock_path} is not a plain file (a directory?); remove it")
    return descriptor


def lock_holder(lock_path: Path) -> str:
    """Who holds ``lock_path``, as its holder recorded it (``process 123 on host since ...``), or ``another process``."""
    try:
        with open(lock_path, "rb") as handle:
            text = handle.read(200).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text if text.startswith("process ") and "\n" not in text else "another process"


def _record_holder(descriptor: int, lock_path: Path) -> None:
    """Write who holds the lock into it, for a process that waits (best effort: a read-only file stays as it is)."""
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with contextlib.suppress(OSError):
        writer = os.open(lock_path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW)
        try:
            os.write(writer, f"process {os.getpid()} on {socket.gethostname()} since {stamp}".encode())
        finally:
            os.close(writer)


@contextlib.contextmanager
def exclusive_lock(lock_path: Path, label: str | None = None):
    """Hold an exclusive advisory lock on ``lock_path``, waiting for another holder to let go.

    While it waits it says so in one line on stderr, naming ``label`` (what the
    lock guards) and who holds it. Refuses a lock that is a link or not a plain file.
    """
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = _open_lock(lock_path, create=True)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            warn(f"{label or lock_path.name} is locked by {lock_holder(lock_path)}; waiting for it to finish")
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        _record_holder(descriptor, lock_path)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


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
def lock_if_free(lock_path: Path, *, create: bool = True):
    """Like :func:`exclusive_lock`, without waiting: yields ``False`` (and holds nothing) if another holds it.

    With ``create=False`` an absent lock file is not created (nobody holds it:
    yields ``True``), so a read-only store can be checked.
    """
    descriptor = _open_lock(Path(lock_path), create=create)
    if descriptor is None:
        yield True
        return
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


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
