"""rnn_mnist.plots: each function returns a Figure with the axes, labels and images it promises.

Figures of classes are checked with MNIST's digits (the default) and with
Fashion-MNIST's garment names: the same functions draw both.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from rnn_mnist import analysis, plots  # noqa: E402
from rnn_mnist.data import FASHION_CLASS_NAMES  # noqa: E402

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (30, 28, 28), dtype=np.uint8)
HISTORY = {
    "epoch": [0.0, 1.0, 2.0],
    "loss": [1.0, 0.5, 0.25],
    "accuracy": [0.6, 0.8, 0.9],
    "val_loss": [0.8, 0.5, 0.45],
    "val_accuracy": [0.7, 0.85, 0.88],
    "epoch_seconds": [5.0, 2.0, 3.0],
}
Y_TRUE = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 4, 4, 9])
Y_PRED = np.array([0, 1, 2, 3, 9, 5, 6, 7, 8, 9, 9, 4, 4])


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def texts(fig: Figure) -> str:
    """Every title, label and text of a figure, joined, for 'is it there' checks."""
    parts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        parts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        parts += [t.get_text() for t in ax.texts]
        parts += [t.get_text() for t in ax.get_yticklabels() + ax.get_xticklabels()]
        legend = ax.get_legend()
        if legend is not None:
            parts += [t.get_text() for t in legend.get_texts()]
    return "\n".join(parts)


def image_axes(fig: Figure):
    return [ax for ax in fig.axes if ax.images]


def test_digit_grid_draws_one_image_per_title_and_blanks_the_rest():
    fig = plots.plot_digit_grid(IMAGES[:10], [f"#{i}" for i in range(10)], ncols=4, suptitle="Samples")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 12
    assert len(image_axes(fig)) == 10
    assert [ax.get_title() for ax in image_axes(fig)] == [f"#{i}" for i in range(10)]
    assert fig.get_suptitle() == "Samples"


def test_percent_ticks_never_repeat_or_round_a_tick_to_another_value():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0.9825, 0.9875])
    ax.set_ylim(0.9825, 0.9875)
    ax.yaxis.set_major_formatter(plots.PercentTicks())
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == len(set(labels)) > 2
    assert [float(label.rstrip("%")) / 100 for label in labels] == pytest.approx(list(ax.get_yticks()), abs=1e-9)
    assert "98.5%" in labels and "98%" not in labels[1:-1]
    ax.set_ylim(0, 1)
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_yticklabels() if t.get_text()][:3] == ["0%", "20%", "40%"]


def test_class_samples_one_row_per_digit():
    grid = np.arange(30).reshape(10, 3)
    fig = plots.plot_class_samples(IMAGES, grid)
    assert len(image_axes(fig)) == 30
    assert [fig.axes[3 * d].get_ylabel() for d in range(10)] == [str(d) for d in range(10)]
    assert "3 training images of each digit" in fig.get_suptitle()


def test_class_samples_one_row_per_garment_by_name():
    labels = np.repeat(np.arange(10), 3)
    grid = analysis.sample_indices_per_class(labels, 2, class_names=FASHION_CLASS_NAMES)
    fig = plots.plot_class_samples(IMAGES, grid, class_names=FASHION_CLASS_NAMES)
    assert len(image_axes(fig)) == 20
    assert [fig.axes[2 * c].get_ylabel() for c in range(10)] == list(FASHION_CLASS_NAMES)
    assert fig.get_suptitle() == "2 training images of each garment"


def test_class_balance_has_one_bar_group_per_split():
    shares = analysis.class_balance(
        {"train": np.arange(100) % 10, "test": np.arange(50) % 10}, normalize=True
    )
    fig = plots.plot_class_balance(shares)
    (ax,) = fig.axes
    assert len(ax.patches) == 20
    assert ax.get_xlabel() == "digit"
    assert {"train", "test", "even split"} <= set(texts(fig).split("\n"))
    garments = analysis.class_balance({"train": np.arange(100) % 10}, normalize=True, class_names=FASHION_CLASS_NAMES)
    (ax,) = plots.plot_class_balance(garments).axes
    assert ax.get_xlabel() == "garment"
    assert [t.get_text() for t in ax.get_xticklabels()] == list(FASHION_CLASS_NAMES)


def test_image_as_sequence_shows_image_rows_and_one_input_vector():
    fig = plots.plot_image_as_sequence(IMAGES[0], label=5, row=10)
    image_panel, rows_panel, vector_panel = fig.axes
    assert "a 5" in image_panel.get_title()
    assert len(rows_panel.images) == 28  # one strip per time step
    assert len(vector_panel.patches) == 28  # one bar per pixel of the row
    np.testing.assert_allclose([p.get_height() for p in vector_panel.patches], IMAGES[0][9] / 255)
    assert "t = 10" in vector_panel.get_title()
    assert rows_panel.get_ylabel().startswith("time step")
    with pytest.raises(ValueError):
        plots.plot_image_as_sequence(IMAGES[0], row=29)


@pytest.mark.parametrize(
    "against, xlabel", [("epoch", "epoch"), ("seconds", "wall-clock seconds of training")]
)
def test_learning_curves_training_against_validation(against, xlabel):
    fig = plots.plot_learning_curves(HISTORY, against=against, validation_label="validation (= test)")
    loss_ax, accuracy_ax = fig.axes
    assert loss_ax.get_ylabel() == "loss" and accuracy_ax.get_ylabel() == "accuracy"
    assert loss_ax.get_xlabel() == xlabel
    train, validation = loss_ax.get_lines()
    np.testing.assert_allclose(validation.get_ydata(), HISTORY["val_loss"])
    expected_x = [1, 2, 3] if against == "epoch" else [5, 7, 10]
    np.testing.assert_allclose(train.get_xdata(), expected_x)
    assert "validation (= test)" in texts(fig)
    with pytest.raises(ValueError):
        plots.plot_learning_curves(HISTORY, against="steps")


def test_recipes_compared_against_epochs_and_seconds():
    other = dict(HISTORY, val_accuracy=[0.5, 0.6, 0.7], epoch_seconds=[1.0, 1.0, 1.0])
    fig = plots.plot_recipes_compared({"book": HISTORY, "seed": other})
    by_epoch, by_time = fig.axes
    assert [line.get_label() for line in by_time.get_lines()] == ["book", "seed"]
    np.testing.assert_allclose(by_time.get_lines()[1].get_xdata(), [1, 2, 3])
    assert by_time.get_xlabel() == "wall-clock seconds of training"
    assert by_epoch.get_ylabel() == "held-out accuracy"  # the seed recipe holds out the test set: the legend says


def test_learning_rate_schedules_one_line_per_recipe():
    curves = {
        "a": pd.DataFrame({"epoch": [0, 1], "learning_rate": [1e-3, 1e-3]}),
        "b": pd.DataFrame({"epoch": [0, 1], "learning_rate": [1e-4, 2e-3]}),
    }
    (ax,) = plots.plot_learning_rate_schedules(curves).axes
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    assert ax.get_ylabel() == "learning rate"


def test_class_means_name_the_classes_and_the_pair():
    labels = np.repeat(np.arange(10), 3)
    fig = plots.plot_class_means(IMAGES, labels, (0, 2, 4, 6), pair=(6, 2), class_names=FASHION_CLASS_NAMES)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:4] == ["mean T-shirt/top", "mean Pullover", "mean Coat", "mean Shirt"]
    assert titles[4] == "|Shirt − Pullover|" and "per row" in titles
    profile = next(ax for ax in fig.axes if ax.get_title() == "per row")
    np.testing.assert_allclose(profile.get_lines()[0].get_xdata(),
                               analysis.row_difference(IMAGES, labels, 6, 2))
    assert [t.get_text() for t in profile.get_yticklabels()] == ["1", "4", "8", "12", "16", "20", "24", "28"]


def test_confusion_matrix_counts_normalized_and_errors_only():
    fig = plots.plot_confusion_matrix(Y_TRUE, Y_PRED)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Predicted label" and ax.get_ylabel() == "True label"
    assert ax.get_title() == "Confusion matrix (counts)"
    cells = ax.images[0].get_array()
    assert cells[4, 9] == 2 and cells[4, 4] == 1 and cells[9, 4] == 1
    shown = {t.get_text() for t in ax.texts}
    assert "2" in shown and "0" not in shown  # zero cells are left empty

    normalized = plots.plot_confusion_matrix(Y_TRUE, Y_PRED, normalize="true").axes[0]
    assert normalized.images[0].get_array()[4, 9] == pytest.approx(2 / 3)
    assert "66.7%" in {t.get_text() for t in normalized.texts}
    assert normalized.get_title() == "Confusion matrix (share of each true digit)"

    errors = plots.plot_confusion_matrix(Y_TRUE, Y_PRED, errors_only=True).axes[0]
    assert np.trace(errors.images[0].get_array()) == 0
    assert "diagonal removed" in errors.get_title()
    with pytest.raises(ValueError):
        plots.plot_confusion_matrix(Y_TRUE, Y_PRED, normalize="all")


def test_confusion_matrix_by_garment_name_slants_long_names():
    ax = plots.plot_confusion_matrix(Y_TRUE, Y_PRED, normalize="true", class_names=FASHION_CLASS_NAMES).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(FASHION_CLASS_NAMES)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(FASHION_CLASS_NAMES)
    assert all(t.get_rotation() == 40 for t in ax.get_xticklabels())
    assert ax.get_title() == "Confusion matrix (share of each true garment)"
    assert ax.images[0].get_array()[4, 9] == pytest.approx(2 / 3)  # Coat read as Ankle boot
    digits = plots.plot_confusion_matrix(Y_TRUE, Y_PRED).axes[0]
    assert all(t.get_rotation() == 0 for t in digits.get_xticklabels())


def test_per_class_accuracy_bars_and_overall_line():
    accuracy = analysis.per_class_accuracy(Y_TRUE, Y_PRED)
    (ax,) = plots.plot_per_class_accuracy(accuracy, overall=0.77).axes
    assert len(ax.patches) == 10
    assert ax.patches[4].get_width() == pytest.approx(1 / 3)
    assert "all digits: 77.00%" in texts(ax.figure)
    assert ax.get_xlabel() == "accuracy on images of this digit" and ax.get_title() == "Accuracy per digit"


def test_per_class_accuracy_side_by_side_for_two_datasets():
    panels = {"MNIST": analysis.per_class_accuracy(Y_TRUE, Y_PRED),
              "Fashion-MNIST": analysis.per_class_accuracy(Y_TRUE, Y_PRED, class_names=FASHION_CLASS_NAMES)}
    fig = plots.plot_per_class_accuracy(panels, overall={"MNIST": 0.77, "Fashion-MNIST": 0.6})
    digits, garments = fig.axes
    assert digits.get_title() == "MNIST: accuracy per digit"
    assert garments.get_title() == "Fashion-MNIST: accuracy per garment"
    assert [t.get_text() for t in garments.get_yticklabels()] == list(FASHION_CLASS_NAMES)
    assert garments.patches[4].get_width() == pytest.approx(1 / 3)  # Coat
    assert digits.get_xlim() == garments.get_xlim()  # one scale for both
    assert "all garments: 60.00%" in texts(fig) and "all digits: 77.00%" in texts(fig)


def test_mistakes_titles_carry_true_predicted_and_probability():
    fig = plots.plot_mistakes(IMAGES[:3], [4, 9, 7], [9, 4, 1], [0.98, 0.75, 0.5], ncols=2)
    titles = [ax.get_title() for ax in image_axes(fig)]
    assert titles == [
        "true 4 → read 9\np = 0.980",
        "true 9 → read 4\np = 0.750",
        "true 7 → read 1\np = 0.500",
    ]


def test_mistakes_titled_by_garment_name():
    fig = plots.plot_mistakes(IMAGES[:2], [6, 2], [0, 4], [0.91, 0.5], class_names=FASHION_CLASS_NAMES, ncols=2,
                              suptitle="Fashion")
    titles = [ax.get_title() for ax in image_axes(fig)]
    assert titles == ["true: Shirt\nread: T-shirt/top\np = 0.910", "true: Pullover\nread: Coat\np = 0.500"]
    assert fig.get_suptitle() == "Fashion"


def test_confidence_histogram_scales_each_group_to_one():
    fig = plots.plot_confidence_histogram({"right": np.array([0.99, 0.999, 0.5]), "wrong": np.array([0.6])})
    (ax,) = fig.axes
    heights = [p.get_height() for p in ax.patches]
    assert sum(heights) == pytest.approx(2.0)  # each group sums to 1
    assert ax.get_yscale() == "log"
    assert "right answers (3)" in texts(fig) and "wrong answers (1)" in texts(fig)


def test_rows_revealed_one_panel_per_prefix():
    fig = plots.plot_rows_revealed(IMAGES[0], rows=(1, 14, 28))
    assert [ax.get_title() for ax in fig.axes] == ["1 rows", "14 rows", "28 rows"]
    assert fig.axes[1].images[0].get_array().mask[14:].all()
    assert [ax.get_title() for ax in plots.plot_rows_revealed(IMAGES[0]).axes] == [
        f"{k} rows" for k in (4, 8, 12, 16, 20, 24, 28)]


def accuracy_table(class_names=None):
    names = list(class_names) if class_names is not None else [str(d) for d in range(10)]
    table = pd.DataFrame(
        {analysis.overall_column(names): np.linspace(0.1, 0.9, 28)},
        index=pd.Index(range(1, 29), name="rows read"),
    )
    for position, name in enumerate(names):
        table[name] = np.linspace(0, 1, 28) * (position + 1) / len(names)
    return table


def test_accuracy_by_rows_curve_and_heat_map():
    table = accuracy_table()
    (ax,) = plots.plot_accuracy_by_rows(table).axes
    line, chance = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), table["all digits"])
    assert line.get_label() == "all digits" and chance.get_ydata()[0] == pytest.approx(0.1)
    assert ax.get_xlabel() == "rows read (time steps)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "4", "8", "12", "16", "20", "24", "28"]
    heat = plots.plot_accuracy_by_rows_per_class(table)
    assert heat.axes[0].images[0].get_array().shape == (10, 28)
    assert heat.axes[0].get_ylabel() == "true digit"
    np.testing.assert_allclose(heat.axes[0].images[0].get_array()[3], table["3"])


def test_accuracy_by_rows_one_line_per_model():
    tables = {"GRU": accuracy_table(), "LSTM": accuracy_table().assign(**{"all digits": np.linspace(0, 1, 28)})}
    (ax,) = plots.plot_accuracy_by_rows(tables).axes
    gru, lstm, chance = ax.get_lines()
    assert [gru.get_label(), lstm.get_label()] == ["GRU", "LSTM"]
    np.testing.assert_allclose(lstm.get_ydata(), np.linspace(0, 1, 28))
    assert chance.get_label() == "chance (10%)"


def test_accuracy_per_garment_heat_map_is_labelled_by_name():
    table = accuracy_table(FASHION_CLASS_NAMES)
    (ax, colorbar) = plots.plot_accuracy_by_rows_per_class(table).axes
    assert [t.get_text() for t in ax.get_yticklabels()] == list(FASHION_CLASS_NAMES)
    assert ax.get_ylabel() == "true garment"
    assert ax.get_title() == "Accuracy per garment after reading the first k rows"
    np.testing.assert_allclose(ax.images[0].get_array()[6], table["Shirt"])


def test_reading_trace_highlights_true_digit_and_final_answer():
    row_probabilities = np.full((28, 10), 0.1)
    row_probabilities[-5:, 7] = 0.8
    row_probabilities[-5:, 1] = 0.02
    fig = plots.plot_reading_trace(IMAGES[0], row_probabilities, true_label=1)
    image_ax, trace_ax = fig.axes
    assert image_ax.get_title() == "true 1, read as 7"
    labels = [line.get_label() for line in trace_ax.get_lines()]
    assert "p(1) (true digit)" in labels and "p(7) (final answer)" in labels and "other digits" in labels
    assert trace_ax.get_xlabel() == "rows read (time steps)"
    named = plots.plot_reading_trace(IMAGES[0], row_probabilities, true_label=1, class_names=FASHION_CLASS_NAMES)
    assert named.axes[0].get_title() == "true Trouser, read as Sneaker"
    labels = [line.get_label() for line in named.axes[1].get_lines()]
    assert "p(Trouser) (true garment)" in labels and "other garments" in labels
