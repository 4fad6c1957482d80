"""The NumPy LSTM of chapter 6 computes what Keras's LSTM computes, and the chapter shows its source."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import keras
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rnn_mnist import inside  # noqa: E402

CHAPTER_6 = Path(__file__).resolve().parents[1] / "notebooks" / "06_error_analysis.ipynb"


def keras_lstm_with_random_weights(units, features, seed):
    layer = keras.layers.LSTM(units, return_sequences=True, return_state=True)
    layer.build((None, None, features))
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.get_weights()])
    return layer


@pytest.mark.parametrize("units, features, rows, seed", [(5, 4, 7, 0), (16, 28, 28, 1)])
def test_numpy_steps_match_keras_on_random_weights(units, features, rows, seed):
    layer = keras_lstm_with_random_weights(units, features, seed)
    x = np.random.default_rng(seed + 10).uniform(0, 1, (3, rows, features)).astype("float32")
    sequence, last_h, last_c = (np.asarray(part) for part in layer(x))
    steps = inside.lstm_steps(x, *layer.get_weights())
    assert set(steps) == {"i", "f", "c_tilde", "o", "c", "h"}
    for values in steps.values():
        assert values.shape == (3, rows, units)
    np.testing.assert_allclose(steps["h"], sequence, atol=1e-5, rtol=0)
    np.testing.assert_allclose(steps["h"][:, -1], last_h, atol=1e-5, rtol=0)
    np.testing.assert_allclose(steps["c"][:, -1], last_c, atol=1e-5, rtol=0)


def test_the_gates_are_in_their_ranges_and_follow_the_equations():
    layer = keras_lstm_with_random_weights(6, 4, 2)
    x = np.random.default_rng(3).uniform(0, 1, (2, 5, 4))
    s = inside.lstm_steps(x, *layer.get_weights())
    for gate in ("i", "f", "o"):
        assert ((s[gate] > 0) & (s[gate] < 1)).all()
    assert (np.abs(s["c_tilde"]) < 1).all()
    previous_c = np.concatenate([np.zeros((2, 1, 6)), s["c"][:, :-1]], axis=1)
    np.testing.assert_allclose(s["c"], s["f"] * previous_c + s["i"] * s["c_tilde"])
    np.testing.assert_allclose(s["h"], s["o"] * np.tanh(s["c"]))


def test_the_forget_gate_is_the_second_block_of_the_weights():
    """Keras's order is input, forget, candidate, output: a large forget bias opens only f."""
    kernel, recurrent, bias = np.zeros((4, 12)), np.zeros((3, 12)), np.zeros(12)
    bias[3:6] = 10.0
    s = inside.lstm_steps(np.ones((1, 2, 4)), kernel, recurrent, bias)
    assert s["f"].min() > 0.99
    np.testing.assert_allclose(s["i"], 0.5)
    np.testing.assert_allclose(s["o"], 0.5)


@pytest.mark.parametrize(
    "rows_with_ink, expected", [((), 28), ((0,), 0), ((5, 9), 5), ((27,), 27)]
)
def test_leading_blank_rows(rows_with_ink, expected):
    image = np.zeros((28, 28))
    for row in rows_with_ink:
        image[row, 3] = 0.5
    assert inside.leading_blank_rows(image) == expected


def test_the_figure_has_one_row_of_panels_per_image():
    layer = keras_lstm_with_random_weights(8, 28, 4)
    images = np.random.default_rng(5).uniform(0, 1, (3, 28, 28))
    fig = inside.plot_gates_and_states(images, inside.lstm_steps(images, *layer.get_weights()), [0, 1, 7])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:3] == ["a 0", "the gates after each row", "hidden state $h_t$ after each row"]
    assert "a 1" in titles and "a 7" in titles
    assert len(fig.axes) == 3 * 3 + 3  # three panels per image and a colour bar per heat map
    heat = fig.axes[2].images[0]
    assert np.asarray(heat.get_array()).shape == (8, 28)  # units x rows
    plt.close(fig)


def test_the_figure_refuses_mismatched_inputs():
    steps = inside.lstm_steps(np.zeros((2, 28, 28)), np.zeros((28, 8)), np.zeros((2, 8)), np.zeros(8))
    with pytest.raises(ValueError, match=r"images \(3\), labels \(3\) and steps \(2 images\) must match"):
        inside.plot_gates_and_states(np.zeros((3, 28, 28)), steps, [0, 1, 2])


# -- chapter 6 shows the code that runs ------------------------------------------------------------
def code_cells():
    return [c.source for c in nbformat.read(CHAPTER_6, as_version=4).cells if c.cell_type == "code"]


def test_chapter_6_shows_the_numpy_lstm_character_for_character():
    source = inspect.getsource(inside.sigmoid) + "\n\n" + inspect.getsource(inside.lstm_steps).rstrip()
    shown = [cell for cell in code_cells() if cell.startswith("def sigmoid(")]
    assert shown == [source], "chapter 6's NumPy LSTM differs from rnn_mnist.inside; regenerate the cell"


def test_chapter_6_checks_numpy_against_keras_and_plots_three_digits():
    source = "\n".join(code_cells())
    assert "lstm_steps(images[chosen], *trained_lstm.get_weights())" in source
    assert "keras_states = np.asarray(lstm(images[chosen]))" in source
    assert re.search(r'assert np\.allclose\(steps\["h"\], keras_states, atol=1e-5\)', source)
    assert "inside.plot_gates_and_states(images[chosen], steps, y_true[chosen])" in source
    assert "for digit in (0, 1, 7)" in source
