"""Chapters 4-6 show the Keras calls they teach, in view, and end the same way.

Read as a learner would, each of these chapters calls ``model.evaluate`` /
``model.predict`` where their results are used, chapter 6 builds its
row-by-row reader in its own code cells, every chapter ends with the
reproducibility block, a summary, exercises with collapsed solutions, what's
next and references, and no code reaches into Keras's private attributes.
These tests read the stored notebook sources only (nothing is executed).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CHAPTERS = ("04_learning_curves", "05_confusion_matrix", "06_error_analysis", "09_taking_the_model_out_of_python")
ENDING = ("Summary", "Exercises", "What's next", "Resources and references")
DETAILS_CALL = "rnn_mnist.reproducibility.details(config=config, run=run)"
DETAILS_INTRO = "Versions, device and the stored run, for anyone reproducing this page:"
DROPDOWN = ":::{dropdown} Solution"
# An attribute whose name starts with an underscore: `model._layers`, `x.__class__`.
PRIVATE_ATTRIBUTE = re.compile(r"\.\s*_\w")
FENCED_PYTHON = re.compile(r"```python\n(.*?)```", re.DOTALL)


def cells(chapter: str) -> list:
    return nbformat.read(NOTEBOOKS / f"{chapter}.ipynb", as_version=4).cells


def code(chapter: str) -> str:
    return "\n".join(c.source for c in cells(chapter) if c.cell_type == "code")


def markdown(chapter: str) -> str:
    return "\n".join(c.source for c in cells(chapter) if c.cell_type == "markdown")


def section(chapter: str, title: str) -> str:
    """The markdown of one ``## title`` section, up to the next level-2 heading."""
    text = markdown(chapter)
    match = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"{chapter} has no '## {title}' section"
    return match.group(1)


def level2_headings(chapter: str) -> list[str]:
    return re.findall(r"^## (.+?)\s*$", markdown(chapter), re.MULTILINE)


# -- evaluate and predict, in view ------------------------------------------------------
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_calls_evaluate_or_predict_in_a_code_cell(chapter):
    source = code(chapter)
    assert ".evaluate(" in source or ".predict(" in source


def test_chapter_4_compares_training_and_validation_with_evaluate():
    source = code("04_learning_curves")
    assert "run.load_model()" in source
    assert re.search(r"model\.evaluate\(splits\.x_train, splits\.y_train", source)
    assert re.search(r"model\.evaluate\(splits\.x_val, splits\.y_val", source)


def test_chapter_4_explains_all_three_reasons_validation_can_lead():
    text = markdown("04_learning_curves")
    assert "averaged over the epoch" in text
    assert "shifted at random" in text
    assert "moving average of the weights" in text


def test_chapter_5_evaluates_the_loaded_model_and_checks_the_stored_accuracy():
    source = code("05_confusion_matrix")
    assert "model = run.load_model()" in source
    assert re.search(r"model\.evaluate\(splits\.x_test, splits\.y_test", source)
    check = next(
        line for line in source.splitlines() if line.startswith("assert") and "run.test_accuracy" in line
    )
    assert "1e-6" in check


def test_chapter_5_builds_the_confusion_matrix_from_predict():
    source = code("05_confusion_matrix")
    assert re.search(r"probabilities = model\.predict\(splits\.x_test", source)
    assert "y_pred = probabilities.argmax(axis=1)" in source
    assert "plot_confusion_matrix(y_true, y_pred" in source
    assert "run.y_pred" not in source and "run.probabilities" not in source


def test_chapter_6_predicts_the_test_set_itself():
    source = code("06_error_analysis")
    assert re.search(r"probabilities = model\.predict\(", source)
    assert "run.y_pred" not in source and "run.probabilities" not in source


# -- chapter 6: the reader of the first k rows, built in view -----------------------------
def reader_cell() -> str:
    matches = [
        c.source for c in cells("06_error_analysis") if c.cell_type == "code" and "keras.Input(" in c.source
    ]
    assert len(matches) == 1, "chapter 6 should build its reader in one code cell"
    return matches[0]


def test_chapter_6_builds_a_variable_length_reader_that_returns_every_step():
    source = reader_cell()
    assert "keras.Input(shape=(None, 28))" in source
    assert re.search(r"keras\.layers\.LSTM\([^)]*return_sequences=True", source)
    assert 'get_layer("lstm")' in source and 'get_layer("digit")' in source
    assert "set_weights(" in source and "get_weights()" in source
    assert len([line for line in source.splitlines() if line.strip()]) <= 12, "the reader should stay short"


def test_chapter_6_checks_the_reader_against_predict_and_uses_it():
    source = code("06_error_analysis")
    assert re.search(r"assert np\.allclose\(per_row\[:, -1\], probabilities, atol=1e-5\)", source)
    assert "accuracy_after_rows(row_probabilities" in source
    # The package's hidden reader is no longer on the learner's path.
    assert "probabilities_after_rows" not in source
    assert "prefix_reader" not in source
    assert "accuracy_by_rows_read" not in source


def test_chapter_6_states_what_accuracy_after_k_rows_cannot_tell():
    text = markdown("06_error_analysis")
    caveat = next(
        c.source for c in cells("06_error_analysis") if c.cell_type == "markdown" and "caveat" in c.source
    )
    assert "after row 28" in caveat
    assert "readout" in caveat
    assert "memory" in caveat
    assert "This is the last chapter" not in text
    assert "07_which_cell.ipynb" in section("06_error_analysis", "What's next")


# -- private Keras API ---------------------------------------------------------------------
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_code_uses_an_underscore_attribute(chapter):
    snippets = [c.source for c in cells(chapter) if c.cell_type == "code"]
    snippets += FENCED_PYTHON.findall(markdown(chapter))  # the exercises' solutions too
    for snippet in snippets:
        for line in snippet.splitlines():
            if line.lstrip().startswith(("%", "!")):
                continue
            assert not PRIVATE_ATTRIBUTE.search(line), f"{chapter}: {line.strip()}"


# -- the end of every chapter --------------------------------------------------------------
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_ends_with_details_summary_exercises_next_and_references(chapter):
    headings = level2_headings(chapter)
    assert headings[-len(ENDING) :] == list(ENDING), headings
    chapter_cells = cells(chapter)
    summary = next(
        i
        for i, c in enumerate(chapter_cells)
        if c.cell_type == "markdown" and c.source.startswith("## Summary")
    )
    assert chapter_cells[summary - 1].cell_type == "code"
    assert chapter_cells[summary - 1].source.strip() == DETAILS_CALL
    assert chapter_cells[summary - 2].source.rstrip().endswith(DETAILS_INTRO)
    assert sum(DETAILS_CALL in c.source for c in chapter_cells) == 1


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_exercises_have_collapsed_solutions_and_one_runs_papermill(chapter):
    exercises = section(chapter, "Exercises")
    numbered = re.findall(r"^\*\*\d+\. ", exercises, re.MULTILINE)
    assert len(numbered) >= 2
    assert exercises.count(DROPDOWN) >= len(numbered)
    assert exercises.count(DROPDOWN) == len(re.findall(r"^:::\s*$", exercises, re.MULTILINE))
    assert re.search(rf"papermill {chapter}\.ipynb \S+\.ipynb( -p \w+ \S+)+", exercises)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_references_are_links(chapter):
    references = section(chapter, "Resources and references")
    items = re.findall(r"^\* .+", references, re.MULTILINE)
    assert len(items) >= 3
    assert len(re.findall(r"\]\(https://", references)) >= len(items)


NOISE = ("run_id", "run_dir", "sha256", "SHA-256", "thread", "performance.md", ".cache", "RNN_MNIST_HOME")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_engineering_noise_on_the_learners_path(chapter):
    text = "\n".join(c.source for c in cells(chapter)[1:])  # the Colab install cell is not rendered
    for word in NOISE:
        assert word not in text, f"{chapter} mentions {word!r}"
