"""The row reader as ONNX: what Keras exports, ONNX Runtime computes the same, and chapter 9 shows this code.

Uses the stored run of the ``small`` profile (``ensure_trained`` reuses it from
the project cache, or trains it once: 2 epochs on 2,000 images).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import nbformat
import numpy as np
import pytest

from rnn_mnist import export
from rnn_mnist.book import load_profile
from rnn_mnist.config import config_from_parameters
from rnn_mnist.runs import ensure_trained
from rnn_mnist.splits import make_splits

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_9 = ROOT / "notebooks" / "09_taking_the_model_out_of_python.ipynb"
SHOWN = ("row_reader", "export_onnx", "onnx_probabilities")
SUBSET = slice(0, 200)  # a fixed subset of the small profile's test images


@pytest.fixture(scope="module")
def small_run():
    small = load_profile(ROOT, "small")
    config = config_from_parameters(
        "book", **{name: small.get(name) for name in ("epochs", "batch_size", "train_size", "test_size", "seed")}
    )
    return ensure_trained(config, verbose=0)


@pytest.fixture(scope="module")
def images(small_run):
    return make_splits(small_run.config).x_test[SUBSET]


@pytest.fixture(scope="module")
def reader_and_file(small_run, images, tmp_path_factory):
    reader = export.row_reader(small_run.load_model())
    keras_per_row = reader.predict(images, verbose=0)  # the first call, which the exporter needs
    path = export.export_onnx(reader, tmp_path_factory.mktemp("site") / "models" / export.ONNX_FILE)
    return reader, keras_per_row, path


def session(path):
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


# -- the exported file ----------------------------------------------------------------------
def test_onnx_runtime_matches_keras_after_every_row(reader_and_file, images):
    _, keras_per_row, path = reader_and_file
    onnx_per_row = export.onnx_probabilities(path, images)
    assert onnx_per_row.shape == keras_per_row.shape == (len(images), 28, 10)
    assert onnx_per_row.dtype == np.float32
    assert np.abs(onnx_per_row - keras_per_row).max() <= 1e-5
    np.testing.assert_allclose(onnx_per_row.sum(axis=-1), 1.0, atol=1e-5)  # probabilities after every row
    assert (onnx_per_row[:, -1].argmax(axis=1) == keras_per_row[:, -1].argmax(axis=1)).all()


def test_after_row_28_the_file_gives_the_stored_models_answer(small_run, reader_and_file, images):
    _, _, path = reader_and_file
    stored = small_run.load_model().predict(images, verbose=0)
    assert np.abs(export.onnx_probabilities(path, images)[:, -1] - stored).max() <= 1e-5


def test_the_file_reads_any_number_of_rows_and_any_batch(reader_and_file, images):
    _, keras_per_row, path = reader_and_file
    for rows, batch in ((1, 1), (14, 3), (28, 1)):
        part = export.onnx_probabilities(path, images[:batch, :rows])
        assert part.shape == (batch, rows, 10)
        assert np.abs(part - keras_per_row[:batch, :rows]).max() <= 1e-5


def test_the_file_has_one_input_and_one_output_with_open_batch_and_rows(reader_and_file):
    _, _, path = reader_and_file
    opened = session(path)
    inputs, outputs = opened.get_inputs(), opened.get_outputs()
    assert len(inputs) == 1 and len(outputs) == 1
    (rows,), (probabilities,) = inputs, outputs
    assert rows.name == "rows" and rows.type == probabilities.type == "tensor(float)"
    assert len(rows.shape) == 3 and rows.shape[2] == 28
    assert len(probabilities.shape) == 3 and probabilities.shape[2] == 10
    for dimension in (*rows.shape[:2], *probabilities.shape[:2]):
        assert not isinstance(dimension, int), f"batch and rows must be open, got {rows.shape} -> {probabilities.shape}"


def test_row_reader_reuses_the_trained_weights(small_run, reader_and_file):
    reader, _, _ = reader_and_file
    model = small_run.load_model()
    trained = [*model.get_layer("lstm").get_weights(), *model.get_layer("digit").get_weights()]
    assert len(reader.get_weights()) == len(trained)
    for got, want in zip(reader.get_weights(), trained):
        np.testing.assert_array_equal(got, want)


# -- nothing half-written -------------------------------------------------------------------
class FailsAfterWriting:
    """Stands in for a model whose export writes part of the file, then fails."""

    def export(self, filepath, format, verbose):
        Path(filepath).write_bytes(b"half an onnx file")
        raise RuntimeError("the converter failed")


def test_a_failed_export_leaves_nothing_and_keeps_the_previous_file(tmp_path):
    target = tmp_path / "models" / export.ONNX_FILE
    with pytest.raises(RuntimeError, match="converter failed"):
        export.export_onnx(FailsAfterWriting(), target)
    assert list((tmp_path / "models").iterdir()) == []

    target.write_bytes(b"the previous model")
    with pytest.raises(RuntimeError):
        export.export_onnx(FailsAfterWriting(), target)
    assert target.read_bytes() == b"the previous model"
    assert list((tmp_path / "models").iterdir()) == [target]


def test_exporting_a_model_never_called_fails_and_writes_nothing(tmp_path):
    import keras

    rows = keras.Input(shape=(None, 28))
    uncalled = keras.Model(rows, keras.layers.Dense(10)(keras.layers.LSTM(4, return_sequences=True)(rows)))
    with pytest.raises(ValueError, match="never called"):
        export.export_onnx(uncalled, tmp_path / export.ONNX_FILE)
    assert list(tmp_path.iterdir()) == []


# -- the description beside the file --------------------------------------------------------
def test_the_description_names_the_files_input_and_output_and_the_run(small_run, reader_and_file):
    _, _, path = reader_and_file
    description = export.write_description(path, run=small_run, classes=make_splits(small_run.config).class_names,
                                           test_accuracy=0.5)
    written = json.loads(path.with_suffix(".json").read_text())
    assert written == description
    opened = session(path)
    assert written == {
        "input_name": opened.get_inputs()[0].name,
        "output_name": opened.get_outputs()[0].name,
        "rows": 28,
        "pixels_per_row": 28,
        "classes": [str(digit) for digit in range(10)],
        "run": small_run.config.run_id(),
        "test_accuracy": 0.5,
    }
    assert sorted(p.name for p in path.parent.iterdir()) == ["row_reader.json", "row_reader.onnx"]


# -- where the chapter writes -----------------------------------------------------------------
def test_the_site_folder_follows_the_book_being_built(tmp_path):
    book = tmp_path / "copy"
    (book / "notebooks").mkdir(parents=True)
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    assert export.site_models_folder(book / "notebooks") == book.resolve() / "book" / "_static" / "models"
    alone = tmp_path / "colab"
    alone.mkdir()
    assert export.site_models_folder(alone) == alone / "models"


# -- chapter 9 shows this code ----------------------------------------------------------------
def chapter_code_cells() -> list[str]:
    return [cell.source for cell in nbformat.read(CHAPTER_9, as_version=4).cells if cell.cell_type == "code"]


@pytest.mark.parametrize("name", SHOWN)
def test_chapter_9_shows_the_export_functions_character_for_character(name):
    source = inspect.getsource(getattr(export, name)).rstrip()
    cells = [cell for cell in chapter_code_cells() if cell.startswith(f"def {name}(")]
    assert cells == [source], f"chapter 9's cell defining {name} differs from rnn_mnist.export.{name}"


def test_chapter_9_exports_with_keras_and_checks_every_answer_after_row_28():
    cells = "\n".join(chapter_code_cells())
    assert 'model.export(str(partial), format="onnx"' in cells
    assert 'keras.Input(shape=(None, 28), name="rows")' in cells and "return_sequences=True" in cells
    assert "onnx_path = export_onnx(reader, export.site_models_folder() / export.ONNX_FILE)" in cells
    assert 'assert check.loc[28, "images whose answer differs"] == 0' in cells
    assert "onnxruntime.InferenceSession(" in cells and ".predict(" in cells and ".predict_on_batch(" in cells
    assert "export.write_description(onnx_path" in cells


def test_without_the_onnx_extra_the_import_says_what_to_install(monkeypatch):
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if ONNX Runtime were not installed
    monkeypatch.delitem(sys.modules, "rnn_mnist.export")
    with pytest.raises(ModuleNotFoundError, match=r'pip install "rnn-mnist\[onnx\]"'):
        importlib.import_module("rnn_mnist.export")
