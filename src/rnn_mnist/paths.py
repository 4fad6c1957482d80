"""Where the project keeps its files, and how it writes them safely."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path


def project_home() -> Path:
    """Root of cached data and stored runs.

    ``RNN_MNIST_HOME`` wins; otherwise ``~/.cache/rnn-mnist``. The repository's
    Makefile points it at ``.cache/rnn-mnist`` inside the checkout.
    """
    configured = os.environ.get("RNN_MNIST_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "rnn-mnist"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o666 & ~_umask())
        os.replace(handle.name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(handle.name)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


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
