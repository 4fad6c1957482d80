"""What the book build prints: TensorFlow's start-up noise kept out of the chapters and the build log.

Measured with TensorFlow 2.21 on the 2-core development machine (CPU only, no CUDA driver), running a
tiny training and a small notebook through papermill:

=====================================================  =========================================================
Line (where it appeared)                               What silences it
=====================================================  =========================================================
``E... cuda_platform.cc] failed call to cuInit``       ``TF_CPP_MIN_LOG_LEVEL=3``, set before TensorFlow is
``E... node_def_util.cc] NodeDef mentions attribute    imported (it is read once, at import: setting it later
use_unbounded_threadpool`` (each ``fit``)              does nothing). ``2``, the usual advice, keeps them: they
                                                       are ERROR-level lines. ``CUDA_VISIBLE_DEVICES=""`` or
                                                       ``-1`` does not remove the cuInit line.
``WARNING: All log messages before                     No setting: TensorFlow's libraries log these while they
absl::InitializeLog() ...``, ``I... port.cc] oneDNN    load, before TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL``
custom operations are on``, ``I... cudart_stub.cc]     (each appears twice: two libraries). Abseil's
Could not find cuda drivers``                          threshold has no environment variable.
                                                       ``TF_ENABLE_ONEDNN_OPTS=0`` would remove the oneDNN line
                                                       but changes the numbers, so it is not used. The build
                                                       drops these exact lines (:func:`filtered_stderr`,
                                                       :func:`is_noise`).
``[IPKernelApp] WARNING | Kernel is running over TCP   The kernel papermill starts talks over Unix sockets
without encryption`` (each chapter's kernel)           (``KernelManager.transport = "ipc"``), so it is not said.
=====================================================  =========================================================

Where each is applied:

* ``import rnn_mnist`` sets ``TF_CPP_MIN_LOG_LEVEL=3`` unless it is already set (every chapter imports
  the package before TensorFlow, so a reader running a chapter gets it too);
* :func:`kernel_options` are the options :func:`rnn_mnist.book.execute_chapter` gives papermill: the
  kernel over Unix sockets (in a folder of its own), and what C libraries write to the kernel's stderr
  goes to the build log (through the filter), not into the chapter's outputs
  (``IPKernelApp.capture_fd_output=False``);
  Python's own output (prints, warnings, tracebacks) is recorded in the chapter as before;
* :func:`filtered_stderr` wraps the whole book build (:func:`rnn_mnist.book.build_book`): the build's
  stderr, and that of every process it starts (training workers, kernels), passes through one filter
  that drops only the lines :func:`is_noise` recognises. Every other line, a real error or a
  traceback included, reaches the log unchanged, also when the process that wrote it crashes.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

#: An Abseil/TensorFlow C++ log line: severity and date, time, thread, ``file:line]``, the message.
ABSL_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.\-/]+:\d+\] (?P<message>.*)$")

#: Messages of C++ log lines that say nothing a reader of the book can act on (see the module's table).
NOISE_MESSAGES = re.compile(
    r"^(oneDNN custom operations are on\."
    r"|Could not find cuda drivers on your machine, GPU will not be used\."
    r"|failed call to cuInit: "
    r"|NodeDef mentions attribute use_unbounded_threadpool which is not in the op definition"
    r"|This TensorFlow binary is optimized to use available CPU instructions)"
)

#: Whole lines that are noise (the second continues the CPU-instructions message above).
NOISE_LINES = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\."
    r"|\[IPKernelApp\] WARNING \| Kernel is running over TCP without encryption\..*)$"
)

#: Substrings the tests look for: none may appear in a chapter's outputs or the build log.
NOISE_MARKERS = ("absl::InitializeLog", "oneDNN", "cudart_stub", "cuInit", "NodeDef", "Connection to", "over TCP")


def is_noise(line: str) -> bool:
    """Whether ``line`` (without its line ending) is one of TensorFlow's or the kernel's start-up lines."""
    line = line.rstrip("\r\n")
    if NOISE_LINES.match(line):
        return True
    logged = ABSL_LINE.match(line)
    return bool(logged and NOISE_MESSAGES.match(logged.group("message")))


@contextmanager
def kernel_options() -> Iterator[dict]:
    """Options for :func:`papermill.execute_notebook` (passed on to nbclient) that keep a chapter quiet.

    The kernel listens on Unix sockets instead of TCP (Jupyter's ``KernelManager.transport``), in
    a folder of its own that is removed afterwards (two kernels started at once from one working
    folder would otherwise pick the same socket names), and ipykernel's ``capture_fd_output`` is
    off, so what C libraries write to the kernel's file descriptors stays out of the chapter's
    outputs and goes to the build's stderr.
    """
    from traitlets.config import Config

    options: dict = {"extra_arguments": ["--IPKernelApp.capture_fd_output=False"]}
    if os.name != "posix":  # no Unix sockets: the kernel keeps TCP
        yield options
        return
    with tempfile.TemporaryDirectory(prefix="rnn-mnist-kernel-") as sockets:
        yield {**options, "config": Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(sockets, "k")}})}


def _forward(source: int, target: int, drop: Callable[[str], bool]) -> None:
    """Copy ``source`` to ``target`` line by line (``\\n`` or ``\\r`` ends a line), leaving out what ``drop`` says."""
    pending = b""
    while True:
        chunk = os.read(source, 65536)
        if not chunk:
            break
        pending += chunk
        pieces = re.split(rb"(?<=[\r\n])", pending)
        pending = pieces.pop()  # no line ending yet: wait for the rest
        _write_all(target, b"".join(piece for piece in pieces if not drop(piece.decode("utf-8", "replace"))))
    if pending and not drop(pending.decode("utf-8", "replace")):
        _write_all(target, pending)
    os.close(source)


def _write_all(target: int, data: bytes) -> None:
    while data:
        data = data[os.write(target, data):]


@contextmanager
def filtered_stderr(drop: Callable[[str], bool] = is_noise) -> Iterator[None]:
    """Send this process's stderr, and that of the processes it starts meanwhile, through a filter.

    File descriptor 2 is pointed at a pipe for the duration; a thread of this
    process copies each line to the real stderr unless ``drop`` recognises it.
    Child processes inherit the pipe, so their lines are filtered too, and a
    child that crashes has already handed its last lines to this process.
    """
    sys.stderr.flush()
    real = os.dup(2)
    source, sink = os.pipe()
    os.dup2(sink, 2)
    os.close(sink)
    forwarder = threading.Thread(target=_forward, args=(source, real, drop), name="filtered-stderr", daemon=True)
    forwarder.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)  # closes this process's end of the pipe
        forwarder.join(timeout=10)  # done once every process that held the pipe has closed it
        if not forwarder.is_alive():
            os.close(real)
