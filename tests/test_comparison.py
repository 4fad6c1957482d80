"""Chapter 7's package functions: parameter budgets, the comparison table and its reading, gradients by row."""

from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from rnn_mnist import comparison  # noqa: E402
from rnn_mnist.analysis import parameter_count  # noqa: E402
from rnn_mnist.comparison import (  # noqa: E402
    CONTENDERS,
    DEFAULT_BUDGET,
    comparison_base,
    comparison_configs,
    comparison_table,
    epochs_to_reach,
    units_for_budget,
)
from rnn_mnist.config import default_config  # noqa: E402
from rnn_mnist.model import build_model  # noqa: E402


def test_budget_units_are_the_closest_and_within_one_and_a_half_percent():
    expected_units = {"SimpleRNN": 267, "GRU": 149, "LSTM": 128, "bidirectional LSTM": 87,
                      "dense (no recurrence)": 103}
    for c in CONTENDERS:
        units = units_for_budget(c.cell, DEFAULT_BUDGET, bidirectional=c.bidirectional)
        assert units == expected_units[c.label]
        gaps = [abs(parameter_count(c.cell, u, bidirectional=c.bidirectional) - DEFAULT_BUDGET)
                for u in (units - 1, units, units + 1)]
        assert gaps[1] <= min(gaps[0], gaps[2])
        assert gaps[1] <= 0.015 * DEFAULT_BUDGET
    assert parameter_count("lstm", 128) == DEFAULT_BUDGET


def test_a_budget_below_the_smallest_model_is_refused():
    with pytest.raises(ValueError, match="below the smallest"):
        units_for_budget("lstm", 100)


def test_comparison_configs_differ_only_in_the_cell():
    base = comparison_base("book", epochs=2, train_size=2000, test_size=1000)
    assert (base.epochs, base.train_size, base.test_size) == (2, 2000, 1000)
    configs = comparison_configs(base)
    assert list(configs) == [c.label for c in CONTENDERS]
    assert configs["bidirectional LSTM"].bidirectional and configs["bidirectional LSTM"].cell == "lstm"
    assert configs["LSTM"] == base.replace(units=128), "the LSTM is the book's own model: its run is reused"
    for name, config in configs.items():
        assert config.label == name
        same = {k: v for k, v in config.to_dict().items() if k not in ("cell", "units", "bidirectional", "label")}
        assert same == {k: v for k, v in base.to_dict().items() if k not in ("cell", "units", "bidirectional", "label")}


def test_comparison_base_fills_in_the_comparison_defaults():
    base = comparison_base("book", dataset="fashion_mnist")
    assert base.epochs == comparison.COMPARISON_EPOCHS
    assert base.train_size == comparison.COMPARISON_TRAIN_SIZE
    assert base.dataset == "fashion_mnist"
    assert base.schedule == default_config().schedule


def fake_run(val_accuracy, seconds, test_accuracy, parameters=1000, units=8):
    history = {"val_accuracy": val_accuracy, "epoch_seconds": seconds, "loss": [1.0] * len(seconds)}
    metrics = {"parameters": parameters, "seconds_per_epoch": float(np.median(seconds)),
               "train_seconds": float(sum(seconds)), "test_accuracy": test_accuracy}
    return SimpleNamespace(history=history, metrics=metrics, config=SimpleNamespace(units=units))


def test_epochs_and_seconds_to_reach_the_threshold():
    history = {"val_accuracy": [0.9, 0.97, 0.981, 0.99], "epoch_seconds": [10.0, 11.0, 12.0, 13.0]}
    assert epochs_to_reach(history, 0.98) == 3
    assert comparison.seconds_to_reach(history, 0.98) == 33.0
    assert epochs_to_reach(history, 0.995) is None and comparison.seconds_to_reach(history, 0.995) is None


def test_comparison_table_and_its_reading():
    runs = {
        "fast": fake_run([0.95, 0.985], [2.0, 2.0], 0.984, parameters=900),
        "slow": fake_run([0.90, 0.97], [9.0, 11.0], 0.969),
    }
    table = comparison_table(runs, 0.98)
    assert table.loc["fast", "epochs to 98%"] == 2 and table.loc["fast", "seconds to 98%"] == 4.0
    assert pd.isna(table.loc["slow", "epochs to 98%"]) and pd.isna(table.loc["slow", "seconds to 98%"])
    assert str(table["epochs to 98%"].dtype) == "Int64" and str(table["units"].dtype) == "int64"
    assert table.loc["slow", "seconds per epoch"] == 10.0 and table.loc["fast", "parameters"] == 900
    assert table.loc["fast", "validation accuracy"] == 0.985  # the final model's, beside its test accuracy
    text = comparison.describe_comparison(table, 0.98, validation_images=10_000)
    assert text.startswith("On the validation images the fast is best (98.50%), more than 0.5 percentage points "
                           "ahead of the others: the slow (97.00%).")
    assert "evaluated once on the test images: the fast 98.40%, the slow 96.90%." in text
    assert "below the best" not in text
    assert "1 of 2 models reached 98%" in text and "No model" not in text
    both = comparison_table(runs, thresholds=(0.95, 0.98))
    assert both.loc["fast", "epochs to 95%"] == 1 and both.loc["slow", "epochs to 95%"] == 2
    assert both.loc["slow", "seconds to 95%"] == 20.0
    text = comparison.describe_comparison(both, (0.95, 0.98))
    assert "2 of 2 models reached 95% validation accuracy; the fast got there first in wall-clock time (2.0 s)" in text
    assert "No model reached" not in text
    slow_only = comparison_table({"slow": runs["slow"]}, thresholds=(0.98, 0.99))
    assert comparison.describe_comparison(slow_only, (0.98, 0.99)).endswith(
        "No model reached 98% or 99% validation accuracy within this run's epochs and images.")


def test_times_within_a_factor_of_one_and_a_half_are_not_ranked():
    runs = {
        "GRU": fake_run([0.96, 0.985], [10.0, 10.0], 0.98),
        "LSTM": fake_run([0.96, 0.984], [12.0, 12.0], 0.98),
        "dense": fake_run([0.90, 0.96], [2.0, 2.0], 0.95),
    }
    text = comparison.describe_comparison(comparison_table(runs, thresholds=(0.95, 0.98)), (0.95, 0.98))
    assert "An epoch took least time for the dense (2.0 s) and most for the LSTM (12.0 s)" in text
    assert ("3 of 3 models reached 95% validation accuracy; the dense got there first in wall-clock time (4.0 s)."
            in text)
    assert ("2 of 3 models reached 98% validation accuracy; the GRU and the LSTM got there within a factor 1.5 "
            "of each other in wall-clock time (20.0 s, 24.0 s), too close to rank.") in text
    close = comparison.describe_comparison(comparison_table({k: runs[k] for k in ("GRU", "LSTM")}, 0.98), 0.98)
    assert "An epoch took 10.0 to 12.0 s for every model, less than a factor 1.5 apart" in close
    assert "got there first" not in close


def test_accuracies_within_the_noise_are_not_ranked():
    runs = {
        "GRU": fake_run([0.9885], [3.0], 0.95),
        "LSTM": fake_run([0.9871], [4.0], 0.99),
        "SimpleRNN": fake_run([0.9702], [1.0], 0.9999),
    }
    text = comparison.describe_comparison(comparison_table(runs, 0.98), 0.98, validation_images=10_000)
    # grouped on validation accuracy; the test accuracies (made up to disagree) rank nothing
    assert text.startswith("The GRU and the LSTM are within 0.5 percentage points of the best validation accuracy "
                           "(98.85%, 98.71%). With one seed and this many validation images a gap that small is "
                           "noise: it does not rank them. More than 0.5 percentage points below the best: the SimpleRNN "
                           "(97.02%).")
    assert "most accurate" not in text
    # on 200 test images even the SimpleRNN's gap is within the sampling error, so all three are level
    assert comparison.noise_margin(0.98, 1000) == pytest.approx(2 * np.sqrt(2 * 0.98 * 0.02 / 1000))
    assert comparison.noise_margin(0.99, 10_000) == comparison.NOISE_MARGIN
    small = comparison.describe_comparison(comparison_table(runs, 0.98), 0.98, validation_images=200)
    assert small.startswith("The GRU, the LSTM and the SimpleRNN are within") and "below the best" not in small


def test_the_formatted_table_shows_integers_and_no_nan():
    runs = {"fast": fake_run([0.95, 0.985], [2.0, 2.0], 0.984, parameters=81_674, units=128),
            "slow": fake_run([0.90, 0.97], [9.0, 11.0], 0.969, parameters=975, units=29)}
    html = comparison.format_comparison_table(comparison_table(runs, (0.95, 0.98))).to_html()
    assert ">not reached<" in html and "nan" not in html.lower() and "<NA>" not in html
    assert ">29<" in html and ">975<" in html and ">81,674<" in html and ">128<" in html
    assert ">2<" in html and ">4.0<" in html  # epochs to 98% is a count, seconds to it a time
    assert "29.0" not in html and "975.0" not in html


def test_the_dense_gap_is_stated_from_the_numbers():
    table = pd.DataFrame({"validation accuracy": [0.9, 0.95, 0.97]},
                         index=["SimpleRNN", "GRU", "dense (no recurrence)"])
    assert comparison.describe_dense_gap(table) == (
        "The dense network scores 97.00% on the validation images, 2.0 percentage points above all of them; the recurrent "
        "models score from 90.00% (the SimpleRNN) to 95.00% (the GRU).")
    table.loc["dense (no recurrence)", "validation accuracy"] = 0.92
    assert "within their range" in comparison.describe_dense_gap(table)
    table.loc["dense (no recurrence)", "validation accuracy"] = 0.85
    assert "5.0 percentage points below all of them" in comparison.describe_dense_gap(table)


def test_a_cell_without_recurrence_gets_gradient_only_at_the_last_row():
    """With its recurrent kernel zeroed, a SimpleRNN's answer depends on the state after row 28 alone."""
    model = build_model("simple_rnn", 6)
    layer = model.get_layer("simple_rnn")
    kernel, recurrent, bias = layer.get_weights()
    layer.set_weights([kernel, np.zeros_like(recurrent), bias])
    rng = np.random.default_rng(0)
    x = rng.random((20, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 20)
    by_row = comparison.gradient_by_row(model, x, y, batch_size=8)
    assert by_row.shape == (28,)
    assert np.all(by_row[:-1] == 0) and by_row[-1] > 0

    layer.set_weights([kernel, recurrent, bias])  # with recurrence, earlier states matter again
    table = comparison.gradient_table({"with recurrence": model}, x, y)
    assert table.loc[28, "with recurrence"] == pytest.approx(1.0)
    assert (table.loc[1:27, "with recurrence"] > 0).all()


@pytest.mark.parametrize("cell", ["simple_rnn", "gru", "lstm"])
def test_the_unrolled_cell_is_the_model(cell):
    """Stepping the trained cell by hand gives the model's own predictions, so its gradients are the model's."""
    model = build_model(cell, 5)
    x = np.random.default_rng(1).random((6, 28, 28), dtype=np.float32)
    sizes = comparison._recurrent_parts(model)[0].cell.state_size
    sizes = sizes if isinstance(sizes, (list, tuple)) else [sizes]
    assert len(sizes) == (2 if cell == "lstm" else 1)  # the LSTM carries h and c
    zeros = [np.zeros((28, 6, size), dtype=np.float32) for size in sizes]
    _, unrolled = comparison._unrolled_loss(model, x, np.zeros(6, dtype=np.int64), zeros)
    np.testing.assert_allclose(np.asarray(unrolled), model.predict(x, verbose=0), atol=1e-5)
    assert comparison.state_gradients(model, x, np.arange(6)).shape == (6, 28)


def test_models_without_one_reading_direction_are_refused():
    with pytest.raises(ValueError, match="no recurrent layer"):
        comparison.gradient_by_row(build_model("dense", 4), np.zeros((2, 28, 28), np.float32), np.zeros(2))
    with pytest.raises(ValueError, match="two"):
        comparison.gradient_by_row(build_model("lstm", 4, bidirectional=True), np.zeros((2, 28, 28), np.float32),
                                   np.zeros(2))


def test_gradient_reach_counts_rows_back_from_the_end():
    table = pd.DataFrame({"vanishing": [1e-6] * 20 + [0.02] * 7 + [1.0], "steady": [0.5] * 27 + [1.0]},
                         index=pd.Index(range(1, 29), name="row"))
    reach = comparison.gradient_reach(table, fraction=0.01)
    assert reach["vanishing"] == 8 and reach["steady"] == 28


def test_gradient_summary_and_its_reading():
    rows = pd.Index(range(1, 29), name="row")
    table = pd.DataFrame({
        "vanishing": 0.5 ** (28 - np.arange(1, 29)),
        "exploding": 1.2 ** (28 - np.arange(1, 29)),
        "steady": np.ones(28),
    }, index=rows)
    summary = comparison.gradient_summary(table)
    assert summary.loc["vanishing", "change per step"] == pytest.approx(0.5)
    assert summary.loc["exploding", "row 1 / row 28"] == pytest.approx(1.2 ** 27)
    assert summary.loc["vanishing", "rows ≥ 1% of row 28"] == 7  # 0.5**6 > 1% > 0.5**7
    text = comparison.describe_gradients(table)
    lines = text.splitlines()
    assert lines[0] == ("* **vanishing**: after training the gradient reaching row 1 is 7.5e-09 × row 28's, "
                        "0.500 per step back: shrinking on the way back.")
    assert "growing on the way back" in lines[1] and "roughly steady" in lines[2]
    before = table[["steady", "vanishing", "exploding"]].set_axis(["vanishing", "exploding", "steady"], axis=1)
    with_before = comparison.describe_gradients(table, before=before)
    assert with_before.splitlines()[0].startswith(
        "* **vanishing**: at its initial weights the gradient reaching row 1 is 1 × row 28's, 1.000 per step "
        "back: roughly steady; after training")
    assert len(with_before.splitlines()) == 3  # no verdict without accuracies

    # at the initial weights "steady" keeps the most gradient at row 1 (``before``'s column is 1.2**27 there);
    # where its test accuracy falls decides the closing paragraph
    def verdict(accuracy):
        return comparison.describe_gradients(table, before=before, accuracy=accuracy).splitlines()[-1]

    opening = "At the initial weights the gradient reaching row 1 is largest for the steady (1.4e+02 × row 28's)"
    assert verdict({"vanishing": 0.99, "exploding": 0.95, "steady": 0.5}) == (
        f"{opening}, yet the steady has the lowest validation accuracy of these models (50.00%; the vanishing: 99.00%). "
        "A learning signal that reaches the early rows is needed to learn from them, not enough to do it well: "
        "this measurement does not explain the accuracies.")
    assert verdict({"vanishing": 0.9, "exploding": 0.95, "steady": 0.99}) == (
        f"{opening}, and the steady also has the highest validation accuracy of these models (99.00%). One run shows "
        "that the two agree here, not that one causes the other.")
    assert verdict({"vanishing": 0.9, "exploding": 0.99, "steady": 0.95}) == (
        f"{opening}; the highest validation accuracy of these models is the exploding's (99.00%, against 95.00%). "
        "How far the gradient reaches at the start does not, by itself, order the models.")
    figure = comparison.plot_gradient_by_row(table, before=table)
    assert [ax.get_title() for ax in figure.axes] == ["at the initial weights", "after training"]
    matplotlib.pyplot.close("all")


def test_untrained_model_is_where_the_run_started(tmp_path):
    import keras

    from rnn_mnist.runs import ensure_trained

    class StartingWeights(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.weights = [np.array(w) for w in self.model.get_weights()]

    config = default_config(epochs=1, units=4, train_size=100, validation_size=50, test_size=50)
    probe = StartingWeights()
    ensure_trained(config, tmp_path, verbose=0, extra_callbacks=[probe])
    untrained = comparison.untrained_model(config).get_weights()
    assert len(untrained) == len(probe.weights)
    for a, b in zip(untrained, probe.weights):
        np.testing.assert_array_equal(a, b)
