"""Chapter 2's diagrams draw the cell and the unrolled network with the chapter's own notation."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rnn_mnist import diagrams  # noqa: E402

CHAPTER_2 = Path(__file__).resolve().parents[1] / "notebooks" / "02_building_the_lstm.ipynb"


def texts(fig) -> list[str]:
    return [text.get_text() for ax in fig.axes for text in ax.texts]


def gids(fig) -> list[str]:
    return [patch.get_gid() for ax in fig.axes for patch in ax.patches]


def normalised(latex: str) -> str:
    return re.sub(r"\s|&|\$", "", latex.replace(r"\left(", "(").replace(r"\right)", ")"))


@pytest.fixture
def cell_figure():
    fig = diagrams.draw_lstm_cell()
    yield fig
    plt.close(fig)


def test_the_cell_has_its_inputs_states_gates_and_activations(cell_figure):
    labels = texts(cell_figure)
    for symbol in (r"$c_{t-1}$", r"$h_{t-1}$", r"$c_t$", r"$h_t$", r"$f_t$", r"$i_t$", r"$\tilde{c}_t$", r"$o_t$"):
        assert symbol in labels, symbol
    assert any(label.startswith(r"$x_t$") for label in labels)
    for name in ("forget gate", "input gate", "candidate", "output gate"):
        assert name in labels
    assert labels.count(r"$\sigma$") == 3  # forget, input and output gates
    assert labels.count(r"$\tanh$") == 2  # the candidate and tanh(c_t)
    assert labels.count(r"$\odot$") == 3 and labels.count(r"$+$") == 1
    assert {f"gate:{name}" for name in ("forget", "input", "candidate", "output")} <= set(gids(cell_figure))


def test_the_cells_equations_are_the_chapters(cell_figure):
    chapter = "\n".join(c.source for c in nbformat.read(CHAPTER_2, as_version=4).cells if c.cell_type == "markdown")
    equations = [
        t.get_text() for ax in cell_figure.axes for t in ax.texts if (t.get_gid() or "").startswith("equation:")
    ]
    assert len(equations) == 2
    written = {normalised(line.split(r"&&")[0]) for line in chapter.splitlines() if "&=" in line}
    for equation in equations:
        assert normalised(equation) in written, equation


def test_the_unrolled_network_has_28_inputs_28_steps_and_one_head():
    fig = diagrams.draw_unrolled()
    labels, patches = texts(fig), gids(fig)
    assert [f"$x_{{{t}}}$" for t in range(1, 29)] == [label for label in labels if label.startswith("$x_{")]
    assert sorted(g for g in patches if g.startswith("input:")) == sorted(f"input:{t}" for t in range(1, 29))
    assert sorted(g for g in patches if g.startswith("step:")) == sorted(f"step:{t}" for t in range(1, 29))
    assert patches.count("head") == 1
    assert "$h_{28}$" in labels and any("Dense(10)" in label and "softmax" in label for label in labels)
    assert len(fig.axes[0].images) == 0  # no image given: empty boxes
    plt.close(fig)


def test_the_unrolled_network_shows_each_row_of_the_image_under_its_step(mnist):
    image = mnist.x_test[0]
    fig = diagrams.draw_unrolled(image)
    shown = fig.axes[0].images
    assert len(shown) == 28 + 1  # one strip per row, and the whole image
    for t, strip in enumerate(shown[:28]):
        np.testing.assert_allclose(np.asarray(strip.get_array()), image[t : t + 1] / image.max())
    plt.close(fig)


def test_the_diagrams_draw_on_the_axes_given():
    fig, (left, right) = plt.subplots(1, 2)
    assert diagrams.draw_lstm_cell(ax=left) is fig
    assert diagrams.draw_unrolled(ax=right) is fig
    assert left.texts and right.texts
    plt.close(fig)


def test_a_wrongly_shaped_image_is_refused_with_its_shape():
    with pytest.raises(ValueError, match=r"image must be 28 x 28 pixels, got shape \(28, 27\)"):
        diagrams.draw_unrolled(np.zeros((28, 27)))


def test_chapter_2_draws_both_diagrams_in_one_line_each_with_alt_text():
    cells = nbformat.read(CHAPTER_2, as_version=4).cells
    for call in ("diagrams.draw_unrolled(batch[0]);", "diagrams.draw_lstm_cell();"):
        (cell,) = [c for c in cells if c.cell_type == "code" and call in c.source]
        assert cell.source == call
        alt = cell.metadata["mystnb"]["image"]["alt"]
        assert len(alt) > 100
        following = cells[cells.index(cell) + 1]
        assert following.cell_type == "markdown"  # the sentence that says what to see
