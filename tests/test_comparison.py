"""Chapters 7 and 8's package functions: parameter budgets, the comparison table, gradients by row, named classes."""

from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from rnn_mnist import comparison  # noqa: E402
from rnn_mnist.comparison import (  # noqa: E402
    CONTENDERS,
    DEFAULT_BUDGET,
    comparison_base,
    comparison_configs,
    comparison_table,
    epochs_to_reach,
    parameter_count,
    units_for_budget,
)
from rnn_mnist.config import default_config  # noqa: E402
from rnn_mnist.data import FASHION_CLASS_NAMES  # noqa: E402
from rnn_mnist.model import build_model  # noqa: E402


@pytest.mark.parametrize("contender", CONTENDERS, ids=lambda c: c.label)
@pytest.mark.parametrize("units", [7, 33])
def test_parameter_formula_matches_keras(contender, units):
    model = build_model(contender.cell, units, bidirectional=contender.bidirectional)
    assert parameter_count(contender.cell, units, bidirectional=contender.bidirectional) == model.count_params()


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
    assert table.loc["slow", "epochs to 98%"] == "not reached"
    assert table.loc["slow", "seconds per epoch"] == 10.0 and table.loc["fast", "parameters"] == 900
    text = comparison.describe_comparison(table, 0.98)
    assert "most accurate model on the test images is the fast (98.40%)" in text
    assert "1 of 2 models reached 98%" in text and "No model" not in text
    both = comparison_table(runs, thresholds=(0.95, 0.98))
    assert both.loc["fast", "epochs to 95%"] == 1 and both.loc["slow", "epochs to 95%"] == 2
    assert both.loc["slow", "seconds to 95%"] == 20.0
    text = comparison.describe_comparison(both, (0.95, 0.98))
    assert "2 of 2 models reached 95% validation accuracy; the fast got there first" in text
    assert "No model reached" not in text
    slow_only = comparison_table({"slow": runs["slow"]}, thresholds=(0.98, 0.99))
    assert comparison.describe_comparison(slow_only, (0.98, 0.99)).endswith(
        "No model reached 98% or 99% validation accuracy within this run's epochs and images.")


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


def test_named_confusions_and_shares(mnist):
    y_true = np.array([6, 6, 6, 2, 0, 1])
    y_pred = np.array([0, 0, 2, 6, 0, 1])
    table = comparison.named_confusions(y_true, y_pred, FASHION_CLASS_NAMES)
    assert table.loc[1, ["true", "predicted", "count"]].tolist() == ["Shirt", "T-shirt/top", 2]
    assert set(table["true"]) <= set(FASHION_CLASS_NAMES)
    assert comparison.error_share_within(y_true, y_pred, (2, 6)) == pytest.approx(0.5)
    accuracy = comparison.per_class_accuracy_named(y_true, y_pred, FASHION_CLASS_NAMES)
    assert accuracy["Shirt"] == 0 and accuracy["T-shirt/top"] == 1 and accuracy.index[9] == "Ankle boot"


def test_row_difference_finds_the_row_that_tells_two_classes_apart():
    x = np.zeros((40, 28, 28), dtype=np.uint8)
    y = np.repeat([0, 1], 20)
    x[y == 1, 4, :] = 255  # class 1 has a full row 5
    difference = comparison.row_difference(x, y, 0, 1)
    assert int(np.argmax(difference)) == 4 and difference[4] == pytest.approx(1.0)
    assert np.count_nonzero(difference) == 1


def test_rows_to_reach_per_class():
    table = pd.DataFrame({c: np.linspace(0, 1, 28) if c < 9 else np.zeros(28) for c in range(10)},
                         index=pd.Index(range(1, 29), name="rows read"))
    table[0] = [0.0] * 10 + [1.0] * 18
    needed = comparison.rows_to_reach_per_class(table, FASHION_CLASS_NAMES, fraction=0.9)
    assert needed["T-shirt/top"] == 11 and needed["Trouser"] == 26 and np.isnan(needed["Ankle boot"])


def test_class_names_reach_the_figures():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (100, 28, 28), dtype=np.uint8)
    labels = np.repeat(np.arange(10), 10)
    gallery = comparison.plot_class_gallery(images, comparison.class_samples(labels, 3), FASHION_CLASS_NAMES)
    assert [ax.get_ylabel() for ax in gallery.axes[::3]] == list(FASHION_CLASS_NAMES)

    table = pd.DataFrame({c: np.linspace(0, 1, 28) for c in range(10)}, index=pd.Index(range(1, 29)))
    heat = comparison.plot_class_accuracy_by_rows(table, FASHION_CLASS_NAMES)
    assert [t.get_text() for t in heat.axes[0].get_yticklabels()] == list(FASHION_CLASS_NAMES)

    accuracy = pd.Series(np.linspace(0.6, 1, 10), index=list(FASHION_CLASS_NAMES))
    bars = comparison.plot_per_class_accuracy_side_by_side({"Fashion-MNIST": accuracy})
    assert {t.get_text() for t in bars.axes[0].get_yticklabels()} == set(FASHION_CLASS_NAMES)

    means = comparison.plot_class_means(images, labels, FASHION_CLASS_NAMES, (0, 2, 4, 6), pair=(6, 2))
    assert [ax.get_title() for ax in means.axes[:4]] == ["mean T-shirt/top", "mean Pullover", "mean Coat", "mean Shirt"]
    assert means.axes[4].get_title() == "|Shirt − Pullover|"
    matplotlib.pyplot.close("all")


def test_dataset_fingerprints_check_the_datasets_own_hashes(mnist):
    table = comparison.dataset_fingerprints(mnist)
    assert table["matches the pinned hash"].all()
    assert table.loc["x_train", "shape"] == (60000, 28, 28)
    relabelled = SimpleNamespace(**mnist.arrays(), dataset="fashion_mnist")
    assert not comparison.dataset_fingerprints(relabelled)["matches the pinned hash"].any()


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
                        "0.500 per step back: shrinking on the way back (vanishing).")
    assert "growing on the way back (exploding)" in lines[1] and "roughly steady" in lines[2]
    with_before = comparison.describe_gradients(table, before=table[["steady", "vanishing", "exploding"]]
                                                .set_axis(["vanishing", "exploding", "steady"], axis=1))
    assert with_before.splitlines()[0].startswith(
        "* **vanishing**: at its initial weights the gradient reaching row 1 is 1 × row 28's, 1.000 per step "
        "back: roughly steady; after training")
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


def test_accuracy_after_rows_by_model_reads_every_prefix():
    model = build_model("simple_rnn", 4)
    x = np.random.default_rng(2).random((30, 28, 28), dtype=np.float32)
    y = np.arange(30) % 10
    tables = comparison.accuracy_after_rows_by_model({"tiny": model}, x, y)
    table = tables["tiny"]
    assert list(table.index) == list(range(1, 29))
    assert table.loc[28, "all digits"] == pytest.approx(np.mean(model.predict(x, verbose=0).argmax(1) == y))
