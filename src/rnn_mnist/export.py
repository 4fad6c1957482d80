"""The trained model outside Python: the row reader as an ONNX file, read back by ONNX Runtime.

Chapter 9 shows :func:`row_reader`, :func:`export_onnx` and
:func:`onnx_probabilities` in its own code cells, character for character (a
test checks). The export is Keras's own ``model.export(path, format="onnx")``,
which converts the TensorFlow graph with ``tf2onnx``; the check is
``onnxruntime``. Both come with the package's ``onnx`` extra
(``pip install "rnn-mnist[onnx]"``); only this module needs them.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras

try:
    import onnxruntime
except ModuleNotFoundError as missing:  # the "onnx" extra is optional
    raise ModuleNotFoundError(
        'rnn_mnist.export needs ONNX Runtime and tf2onnx: pip install "rnn-mnist[onnx]"'
    ) from missing

from .book import repository_root
from .paths import atomic_write_text

#: Where the book's site serves models from, relative to the root of the book's sources.
SITE_MODELS = Path("book") / "_static" / "models"
ONNX_FILE = "row_reader.onnx"


def row_reader(model):
    """The trained LSTM and Dense layers of ``model``, answering after every row.

    Input ``(batch, rows, 28)`` with any number of rows; output ``(batch, rows, 10)``.
    """
    trained_lstm = model.get_layer("lstm")
    readout = model.get_layer("digit")                      # the trained Dense(10, softmax)
    rows = keras.Input(shape=(None, 28), name="rows")       # any number of rows of 28 pixels
    lstm = keras.layers.LSTM(trained_lstm.units, return_sequences=True)
    reader = keras.Model(rows, readout(lstm(rows)), name="row_reader")
    lstm.set_weights(trained_lstm.get_weights())            # the trained weights: nothing is retrained
    return reader


def export_onnx(model, path):
    """Write ``model`` to ``path`` as ONNX; the file appears only once it is complete.

    Keras's exporter refuses a model that has never been called, so call
    ``model`` once first (``predict`` does).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")       # beside the target, renamed when complete
    try:
        model.export(str(partial), format="onnx", verbose=False)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def onnx_probabilities(path, images):
    """What ONNX Runtime computes from the file at ``path`` for ``images``, shape ``(batch, rows, 28)``."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (rows,) = session.get_inputs()
    (probabilities,) = session.run(None, {rows.name: images.astype("float32")})
    return probabilities


def site_models_folder(start: Path | None = None) -> Path:
    """``book/_static/models`` of the book's sources that hold the working folder.

    The book build runs each chapter inside ``notebooks/`` of the sources it
    builds (the repository, or the temporary copy a test builds), so the file
    lands in that build's static files. A chapter opened outside a copy of the
    sources (Colab) writes to ``models/`` in its working folder instead.
    """
    here = Path(start) if start is not None else Path.cwd()
    try:
        return repository_root(here) / SITE_MODELS
    except FileNotFoundError:
        return here / "models"


def write_description(onnx_path, *, run, classes, test_accuracy, rows: int = 28, pixels_per_row: int = 28) -> dict:
    """Write ``<onnx_path minus .onnx>.json``: what a web page needs to call the model.

    The input and output names are read from the file itself, so the page
    does not hard-code them. Returns the description.
    """
    onnx_path = Path(onnx_path)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"{onnx_path} has {len(inputs)} inputs and {len(outputs)} outputs; expected one of each")
    description = {
        "input_name": inputs[0].name,
        "output_name": outputs[0].name,
        "rows": int(rows),
        "pixels_per_row": int(pixels_per_row),
        "classes": [str(name) for name in classes],
        "run": run.config.run_id(),
        "test_accuracy": float(test_accuracy),
    }
    atomic_write_text(onnx_path.with_suffix(".json"), json.dumps(description, indent=2) + "\n")
    return description
