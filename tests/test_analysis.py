"""rnn_mnist.analysis on small hand-made arrays whose answers are worked out by hand.

Per-class results are checked with MNIST's digits (the default) and with
Fashion-MNIST's garment names: the same functions serve both datasets.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from rnn_mnist import analysis
from rnn_mnist.config import TrainingConfig, default_config, seed_recipe
from rnn_mnist.data import CLASS_NAMES, FASHION_CLASS_NAMES, MNIST_ARRAY_SHA256, MnistArrays, array_sha256
from rnn_mnist.model import NUM_CLASSES, PIXELS_PER_ROW, ROWS

ABC = ("a", "b", "c")


def one_hot_probabilities(predicted, confidence, classes=10):
    """Rows that put ``confidence`` on the predicted class and spread the rest evenly."""
    predicted = np.asarray(predicted)
    confidence = np.asarray(confidence, dtype=float)
    rest = (1 - confidence) / (classes - 1)
    probabilities = np.repeat(rest[:, None], classes, axis=1)
    probabilities[np.arange(len(predicted)), predicted] = confidence
    return probabilities


# -- data ------------------------------------------------------------------------
def test_array_fingerprints_flags_only_the_arrays_that_differ():
    rng = np.random.default_rng(0)
    arrays = MnistArrays(
        x_train=rng.integers(0, 255, (3, 28, 28), dtype=np.uint8),
        y_train=np.array([1, 2, 3], dtype=np.uint8),
        x_test=rng.integers(0, 255, (2, 28, 28), dtype=np.uint8),
        y_test=np.array([4, 5], dtype=np.uint8),
        source="test",
    )
    table = analysis.array_fingerprints(arrays)
    assert list(table.index) == ["x_train", "y_train", "x_test", "y_test"]
    assert table.loc["y_train", "sha256"] == array_sha256(arrays.y_train)
    assert table.loc["x_test", "pinned sha256"] == MNIST_ARRAY_SHA256["x_test"]
    assert table.loc["x_train", "shape"] == (3, 28, 28)
    assert table.loc["y_test", "dtype"] == "uint8"
    assert not table["matches"].any()
    short = analysis.array_fingerprints(arrays, abbreviate=8)
    assert short.loc["y_train", "sha256"] == array_sha256(arrays.y_train)[:8] + "…"
    assert short["matches"].tolist() == table["matches"].tolist()


def test_class_names_decide_the_noun_and_the_overall_column():
    assert analysis.class_noun() == "digit" and analysis.class_noun(CLASS_NAMES) == "digit"
    assert analysis.class_noun(FASHION_CLASS_NAMES) == "garment"
    assert analysis.class_noun(ABC) == "class" and analysis.plural("class") == "classes"
    assert analysis.overall_column() == "all digits"
    assert analysis.overall_column(FASHION_CLASS_NAMES) == "all garments"
    assert analysis.overall_column(ABC) == "all classes"
    assert len(CLASS_NAMES) == NUM_CLASSES and analysis.ALL_ROWS == tuple(range(1, ROWS + 1))


def test_class_balance_counts_and_shares_per_split():
    counts = analysis.class_balance({"train": np.array([0, 0, 1, 3]), "test": np.array([1, 1])})
    assert counts.index.name == "digit" and counts.index.tolist() == list(CLASS_NAMES)
    assert counts["train"].tolist() == [2, 1, 0, 1, 0, 0, 0, 0, 0, 0]
    assert counts["test"].tolist() == [0, 2] + [0] * 8
    assert counts["train"].dtype == np.int64  # counts stay integers
    shares = analysis.class_balance({"train": np.array([0, 0, 1, 3])}, normalize=True)
    assert shares["train"].tolist()[:4] == [0.5, 0.25, 0.0, 0.25]


def test_class_balance_by_garment_name():
    counts = analysis.class_balance({"train": np.array([6, 6, 2, 9])}, class_names=FASHION_CLASS_NAMES)
    assert counts.index.name == "garment" and counts.index.tolist() == list(FASHION_CLASS_NAMES)
    assert counts.loc["Shirt", "train"] == 2 and counts.loc["Pullover", "train"] == 1
    assert counts.loc["Ankle boot", "train"] == 1 and counts["train"].sum() == 4


def test_sample_indices_per_class_picks_images_of_the_right_class():
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    grid = analysis.sample_indices_per_class(labels, per_class=3, seed=1, class_names=ABC)
    assert grid.shape == (3, 3)
    for label in range(3):
        assert (labels[grid[label]] == label).all()
        assert list(grid[label]) == sorted(set(grid[label]))
    np.testing.assert_array_equal(grid, analysis.sample_indices_per_class(labels, 3, seed=1, class_names=ABC))
    with pytest.raises(ValueError, match="class 'b'"):
        analysis.sample_indices_per_class(labels, per_class=4, class_names=ABC)
    with pytest.raises(ValueError, match="digit '3'"):  # MNIST by default: ten digits, and there is no 3 here
        analysis.sample_indices_per_class(labels, per_class=1)
    with pytest.raises(ValueError, match="garment 'Dress'"):
        analysis.sample_indices_per_class(labels, per_class=1, class_names=FASHION_CLASS_NAMES)


def test_class_means_and_the_row_that_tells_two_classes_apart():
    x = np.zeros((40, ROWS, PIXELS_PER_ROW), dtype=np.uint8)
    y = np.repeat([0, 1], 20)
    x[y == 1, 4, :] = 255  # class 1 has a full row 5
    means = analysis.class_means(x, y, (1, 0))
    assert means.shape == (2, ROWS, PIXELS_PER_ROW) and means[0, 4].tolist() == [1.0] * PIXELS_PER_ROW
    difference = analysis.row_difference(x, y, 0, 1)
    assert difference.shape == (ROWS,)
    assert int(np.argmax(difference)) == 4 and difference[4] == pytest.approx(1.0)
    assert np.count_nonzero(difference) == 1


def test_split_table_says_when_validation_is_the_test_set():
    def splits(validation_is_test):
        return SimpleNamespace(
            y_train=np.zeros(7), y_val=np.zeros(3), y_test=np.zeros(5), validation_is_test=validation_is_test
        )

    honest = analysis.split_table(splits(False))
    assert honest["images"].to_dict() == {"train": 7, "validation": 3, "test": 5}
    assert "training set" in honest.loc["validation", "drawn from"]
    seed = analysis.split_table(splits(True))
    assert "test set" in seed.loc["validation", "drawn from"]
    assert honest.loc["train", "drawn from"] == "MNIST training set"
    clothes = SimpleNamespace(**vars(splits(False)), dataset="fashion_mnist")
    assert analysis.split_table(clothes).loc["test", "drawn from"] == "Fashion-MNIST test set"


# -- model --------------------------------------------------------------------------
def test_weight_table_lists_the_four_gates_stacked():
    from rnn_mnist.model import build_model

    table = analysis.weight_table(build_model())
    shapes = dict(zip(zip(table["layer"], table["weight"]), table["shape"]))
    assert shapes[("lstm", "kernel")] == (28, 4 * 128)
    assert shapes[("lstm", "recurrent_kernel")] == (128, 4 * 128)
    assert shapes[("lstm", "bias")] == (4 * 128,)
    assert shapes[("digit", "kernel")] == (128, 10)
    assert table["parameters"].sum() == 81_674 == analysis.parameter_count()


@pytest.mark.parametrize(
    "cell, bidirectional", [("simple_rnn", False), ("gru", False), ("lstm", False), ("lstm", True), ("dense", False)]
)
@pytest.mark.parametrize("units", [7, 33])
def test_parameter_formula_matches_keras(cell, bidirectional, units):
    from rnn_mnist.model import build_model

    model = build_model(cell, units, bidirectional=bidirectional)
    assert analysis.parameter_count(cell, units, bidirectional=bidirectional) == model.count_params()


def test_keras_gru_has_a_second_bias_per_gate():
    """reset_after=True (Keras's default) adds one bias vector per gate to the textbook GRU's count."""
    import keras

    units = 149
    textbook = analysis.parameter_count("gru", units, reset_after=False)
    keras_count = analysis.parameter_count("gru", units)
    assert keras_count - textbook == 3 * units
    assert (textbook, keras_count) == (81_066, 81_513)
    for reset_after, expected in ((False, textbook), (True, keras_count)):
        model = keras.Sequential([keras.Input((ROWS, PIXELS_PER_ROW)), keras.layers.GRU(units, reset_after=reset_after),
                                  keras.layers.Dense(NUM_CLASSES)])
        assert model.count_params() == expected
    with pytest.raises(ValueError, match="'cell'"):
        analysis.parameter_count("transformer", 8)
    with pytest.raises(ValueError, match="no direction"):
        analysis.parameter_count("dense", 8, bidirectional=True)


# -- training ---------------------------------------------------------------------------
HISTORY = {
    "epoch": [0.0, 1.0, 2.0],
    "loss": [1.0, 0.5, 0.25],
    "accuracy": [0.6, 0.8, 0.9],
    "val_loss": [0.8, 0.5, 0.45],
    "val_accuracy": [0.7, 0.85, 0.88],
    "epoch_seconds": [5.0, 2.0, 3.0],
}


def test_history_frame_numbers_epochs_from_one_and_adds_elapsed_time():
    table = analysis.history_frame(HISTORY)
    assert table.index.tolist() == [1, 2, 3]
    assert table.columns.tolist()[:4] == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert "epoch" not in table.columns
    assert table["elapsed_seconds"].tolist() == [5.0, 7.0, 10.0]
    assert table.loc[2, "val_loss"] == 0.5


def test_run_summary_reads_config_and_metrics():
    run = SimpleNamespace(
        config=TrainingConfig(epochs=3, batch_size=100, train_size=1000),
        metrics={
            "sizes": {"train": 1000, "validation": 5000, "test": 500},
            "validation_is_test": False,
            "seconds_per_epoch": 2.5,
            "train_seconds": 8.0,
            "test_accuracy": 0.9,
            "parameters": 81674,
            "device": {"summary": "CPU only"},
        },
    )
    table = analysis.run_summary({"mine": run})
    row = table.loc["mine"]
    assert row["steps per epoch"] == 10
    assert row["validation"] == "5,000 held-out images"
    assert row["test accuracy"] == 0.9
    assert row["device"] == "CPU only"
    assert row["median seconds per epoch"] == 2.5


def summary_run(train: int, parameters: int | None, accuracy: float) -> SimpleNamespace:
    return SimpleNamespace(
        config=TrainingConfig(epochs=29, batch_size=128, train_size=train),
        metrics={
            "sizes": {"train": train, "validation": 5000, "test": 500},
            "seconds_per_epoch": 2.54,
            "train_seconds": 75.3,
            "test_accuracy": accuracy,
            "parameters": parameters,
            "device": {"summary": "CPU only"},
        },
    )


@pytest.mark.parametrize("transpose", [False, True])
def test_styled_run_summary_shows_counts_as_integers_and_missing_values_as_a_dash(transpose):
    runs = {"book": summary_run(2000, 81674, 0.9925), "other": summary_run(55000, None, 0.5)}
    html = analysis.styled_run_summary(analysis.run_summary(runs), transpose=transpose).to_html()
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html)
    for shown in ("29", "128", "2,000", "55,000", "81,674", "99.25%", "50.00%", "2.5", "75.3", "16", "430"):
        assert shown in cells, (shown, cells)
    assert analysis.MISSING in cells  # the run without a parameter count
    assert not [c for c in cells if re.fullmatch(r"[\d,]+\.0+|nan|NaN|None|<NA>", c)], cells


def test_recipe_reasons_say_what_keras_does():
    reasons = analysis.RECIPE_REASONS
    assert "casts the inputs" in reasons["input_dtype"] and "float32" in reasons["input_dtype"]
    assert "each weight tensor" in reasons["clipnorm"] and "global_clipnorm" in reasons["clipnorm"]
    assert "end of every epoch" in reasons["ema_momentum"] and "ema_overwrite_frequency" in reasons["ema_momentum"]


def test_recipe_differences_lists_only_changed_fields_with_reasons():
    seed, book = seed_recipe(), default_config()
    table = analysis.recipe_differences(seed, book)
    assert list(table.columns) == ["seed", "book", "why it matters"]
    assert "label" not in table.index
    for name, value in seed.to_dict().items():
        if name != "label":
            assert (name in table.index) == (value != getattr(book, name))
    assert table.loc["validate_on_test", "seed"] == "True"
    assert table.loc["batch_size", "seed"] == str(seed.batch_size)
    assert table.loc["learning_rate", "seed"] == f"{seed.learning_rate:g}"
    assert all(table["why it matters"].str.len() > 0)
    same = analysis.recipe_differences(TrainingConfig(epochs=2), TrainingConfig(epochs=3))
    assert list(same.columns[:2]) == ["first", "second"]
    assert same.index.tolist() == ["epochs"]


def test_learning_rate_curve_warms_up_then_decays_to_the_floor():
    config = TrainingConfig(
        epochs=4,
        batch_size=100,
        train_size=1000,
        learning_rate=1e-2,
        schedule="warmup_cosine",
        warmup_epochs=1.0,
        min_learning_rate=1e-4,
    )
    curve = analysis.learning_rate_curve(config)
    assert curve["epoch"].iloc[0] == 0 and curve["epoch"].iloc[-1] == 4
    assert curve["learning_rate"].iloc[0] == pytest.approx(1e-4)  # warm-up starts at rate / 100
    peak = curve.loc[curve["learning_rate"].idxmax()]
    assert peak["epoch"] == pytest.approx(1.0) and peak["learning_rate"] == pytest.approx(1e-2)
    assert curve["learning_rate"].iloc[-1] == pytest.approx(1e-4, rel=1e-3)
    constant = analysis.learning_rate_curve(TrainingConfig(epochs=2, learning_rate=1e-3))
    assert constant["learning_rate"].tolist() == pytest.approx([1e-3] * len(constant))  # float32 in Keras


def test_device_note_follows_the_device():
    assert "Running on a CPU" in analysis.device_note({"kind": "cpu", "summary": "CPU only"})
    gpu = analysis.device_note({"kind": "gpu", "cudnn": True, "summary": "GPU (T4)"})
    assert "cuDNN" in gpu and "T4" in gpu
    assert "without the fused cuDNN" in analysis.device_note(
        {"kind": "gpu", "cudnn": False, "summary": "GPU"}
    )


# -- learning curves ----------------------------------------------------------------------
def test_fit_summary_reads_best_epoch_gap_and_rise():
    facts = analysis.fit_summary(HISTORY)
    assert facts["best_epoch"] == 3
    assert facts["accuracy_gap"] == pytest.approx(0.9 - 0.88)
    assert facts["val_loss_rise"] == 0.0
    assert facts["last_val_loss_change"] == pytest.approx(-0.1)


def test_describe_fit_names_over_fitting_when_validation_loss_turns_up():
    history = dict(
        HISTORY, val_loss=[0.8, 0.4, 0.6], accuracy=[0.6, 0.9, 0.99], val_accuracy=[0.7, 0.85, 0.86]
    )
    text = analysis.describe_fit(history)
    assert "over-fitting" in text and "epoch 2" in text
    assert "percentage points above validation" in text


def test_describe_fit_says_still_learning_or_levelled_off():
    assert "still falling" in analysis.describe_fit(HISTORY)
    flat = dict(HISTORY, val_loss=[0.8, 0.5, 0.499], val_accuracy=[0.7, 0.8, 0.9])
    text = analysis.describe_fit(flat)
    assert "levelled off" in text and "within 1%" in text
    ahead = dict(HISTORY, val_accuracy=[0.7, 0.85, 0.95])
    text = analysis.describe_fit(ahead)
    assert "averages training accuracy" in text
    assert "random shifts" in text and "weight average" in text  # the other two possible causes
    assert "may" in text  # named as possibilities: the log alone cannot tell them apart


# -- confusion matrix ----------------------------------------------------------------------
Y_TRUE = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
Y_PRED = np.array([0, 0, 1, 2, 1, 1, 0, 1, 1, 2])


def test_per_class_accuracy_is_recall_per_class():
    accuracy = analysis.per_class_accuracy(Y_TRUE, Y_PRED)
    assert accuracy.index.name == "digit" and accuracy.index.tolist() == list(CLASS_NAMES)
    assert accuracy["0"] == pytest.approx(2 / 4)
    assert accuracy["1"] == pytest.approx(2 / 3)
    assert accuracy["2"] == pytest.approx(1 / 3)
    assert np.isnan(accuracy["3"])  # no images of digit 3
    garments = analysis.per_class_accuracy(Y_TRUE, Y_PRED, class_names=FASHION_CLASS_NAMES)
    assert garments.index.name == "garment" and garments.index[9] == "Ankle boot"
    assert garments["T-shirt/top"] == pytest.approx(2 / 4) and garments["Pullover"] == pytest.approx(1 / 3)
    np.testing.assert_array_equal(garments.to_numpy(), accuracy.to_numpy())


def test_classification_table_matches_hand_counts():
    table = analysis.classification_table(Y_TRUE, Y_PRED, class_names=ABC)
    assert table.index.tolist() == ["a", "b", "c", "accuracy", "macro avg", "weighted avg"]
    assert table.loc["b", "precision"] == pytest.approx(2 / 5)  # predicted b five times, 2 right
    assert table.loc["a", "recall"] == pytest.approx(2 / 4)
    assert table.loc["accuracy", "f1-score"] == pytest.approx(5 / 10)
    assert table["support"].tolist() == [4, 3, 3, 10, 10, 10]
    assert table["support"].dtype == np.int64


def test_most_confused_pairs_ranks_by_count_then_labels():
    pairs = analysis.most_confused_pairs(Y_TRUE, Y_PRED, top=None, class_names=ABC)
    # errors: 0->1, 0->2, 1->0, 2->1, 2->1  => (2,1) twice, then the singles in label order.
    assert list(zip(pairs["true"], pairs["predicted"], pairs["count"])) == [
        ("c", "b", 2),
        ("a", "b", 1),
        ("a", "c", 1),
        ("b", "a", 1),
    ]
    assert pairs.index.tolist() == [1, 2, 3, 4]
    assert pairs.loc[1, "share of errors"] == pytest.approx(2 / 5)
    assert pairs.loc[1, "share of class"] == pytest.approx(2 / 3)
    assert len(analysis.most_confused_pairs(Y_TRUE, Y_PRED, top=2, class_names=ABC)) == 2
    assert analysis.most_confused_pairs(Y_TRUE, Y_TRUE, class_names=ABC).empty


def test_most_confused_pairs_by_digit_and_by_garment():
    y_true = np.array([6, 6, 6, 2, 0, 1])
    y_pred = np.array([0, 0, 2, 6, 0, 1])
    digits = analysis.most_confused_pairs(y_true, y_pred)
    assert digits.loc[1, ["true", "predicted", "count"]].tolist() == ["6", "0", 2]
    garments = analysis.most_confused_pairs(y_true, y_pred, class_names=FASHION_CLASS_NAMES)
    assert garments.loc[1, ["true", "predicted", "count"]].tolist() == ["Shirt", "T-shirt/top", 2]
    assert garments[["true", "predicted"]].to_numpy().tolist() == [
        ["Shirt", "T-shirt/top"], ["Pullover", "Shirt"], ["Shirt", "Pullover"]]
    assert analysis.error_share_within(y_true, y_pred, (2, 6)) == pytest.approx(0.5)
    assert analysis.error_share_within(y_true, y_true, (2, 6)) == 0.0


def test_rank_of_pairs_finds_ranks_and_marks_missing_pairs():
    pairs = analysis.most_confused_pairs(Y_TRUE, Y_PRED, top=None)
    ranks = analysis.rank_of_pairs(pairs, [(2, 1), (1, 0), (1, 2)])
    assert ranks.to_dict() == {"2→1": 1, "1→0": 4, "1→2": None}
    named = analysis.most_confused_pairs(Y_TRUE, Y_PRED, top=None, class_names=FASHION_CLASS_NAMES)
    ranks = analysis.rank_of_pairs(named, [(2, 1), ("Trouser", "T-shirt/top")], class_names=FASHION_CLASS_NAMES)
    assert ranks.to_dict() == {"Pullover→Trouser": 1, "Trouser→T-shirt/top": 4}


# -- error analysis ------------------------------------------------------------------------------
def test_confident_mistakes_sorted_by_confidence_of_the_wrong_answer():
    y_true = np.array([3, 3, 5, 7, 1])
    probabilities = one_hot_probabilities([3, 8, 6, 2, 4], [0.99, 0.6, 0.95, 0.7, 0.5])
    table = analysis.confident_mistakes(y_true, probabilities, top=3)
    assert table.index.tolist() == [2, 3, 1]  # position 0 is right; 4 is the least sure
    assert table["predicted"].tolist() == [6, 2, 8]
    assert table["confidence"].tolist() == pytest.approx([0.95, 0.7, 0.6])
    assert table.loc[2, "p(true)"] == pytest.approx(0.05 / 9)
    assert len(analysis.confident_mistakes(y_true, probabilities, top=None)) == 4


def test_confidence_of_and_summary_split_right_from_wrong():
    y_true = np.array([0, 1, 2, 3])
    probabilities = one_hot_probabilities([0, 1, 5, 3], [0.995, 0.8, 0.95, 0.5])
    split = analysis.confidence_of(y_true, probabilities)
    assert split["right"].tolist() == pytest.approx([0.995, 0.8, 0.5])
    assert split["wrong"].tolist() == pytest.approx([0.95])
    summary = analysis.confidence_summary(y_true, probabilities)
    assert summary.loc["right", "answers"] == 3
    assert summary.loc["right", "median confidence"] == pytest.approx(0.8)
    assert summary.loc["right", "share ≥ 0.99"] == pytest.approx(1 / 3)
    assert summary.loc["wrong", "share ≥ 0.9"] == 1.0


def test_accuracy_after_rows_overall_and_per_class():
    y_true = np.array([0, 1])
    # after 1 row both read as 0; after 2 rows both right.
    row_probabilities = np.stack(
        [one_hot_probabilities([0, 0], [0.9, 0.9], 2), one_hot_probabilities([0, 1], [0.9, 0.9], 2)]
    )
    table = analysis.accuracy_after_rows(row_probabilities, y_true, rows=[1, 2], class_names=("cat", "dog"))
    assert table.index.name == "rows read"
    assert table.columns.tolist() == ["all classes", "cat", "dog"]
    assert table["all classes"].tolist() == [0.5, 1.0]
    assert table["cat"].tolist() == [1.0, 1.0]
    assert table["dog"].tolist() == [0.0, 1.0]
    garments = analysis.accuracy_after_rows(
        np.stack([one_hot_probabilities([6, 2], [0.9, 0.9])]), np.array([6, 6]), rows=[28],
        class_names=FASHION_CLASS_NAMES)
    assert garments.columns[0] == "all garments" and garments.loc[28, "Shirt"] == 0.5
    assert np.isnan(garments.loc[28, "Pullover"])  # no pullovers among these images


def test_rows_needed_is_the_first_row_from_which_the_answer_stays_right():
    y_true = np.array([1, 1, 1, 1])
    # predictions after rows 1..4 for four images (columns)
    predicted = np.array(
        [
            [1, 0, 1, 0],
            [1, 1, 0, 0],
            [1, 1, 1, 0],
            [1, 1, 1, 0],
        ]
    )
    row_probabilities = np.stack([one_hot_probabilities(step, np.full(4, 0.9), 2) for step in predicted])
    needed = analysis.rows_needed(row_probabilities, y_true, rows=[1, 2, 3, 4])
    assert needed[:3].tolist() == [1.0, 2.0, 3.0]  # the third was right at row 1, wrong at 2
    assert np.isnan(needed[3])


def test_accuracy_by_rows_read_on_a_tiny_model_agrees_with_the_full_read():
    import keras

    from rnn_mnist.model import build_model

    keras.utils.set_random_seed(0)
    model = build_model(units=4)
    rng = np.random.default_rng(0)
    x = rng.random((40, 28, 28)).astype("float32")
    y = rng.integers(0, 10, 40)
    probabilities = analysis.probabilities_after_rows(model, x, rows=[1, 14, 28])
    assert probabilities.shape == (3, 40, 10)
    np.testing.assert_allclose(probabilities[-1], model.predict(x, verbose=0), atol=1e-5)
    table = analysis.accuracy_by_rows_read(model, x, y, rows=[1, 14, 28])
    assert table.index.tolist() == [1, 14, 28]
    full_accuracy = np.mean(model.predict(x, verbose=0).argmax(axis=1) == y)
    assert table.loc[28, "all digits"] == pytest.approx(full_accuracy)
    assert isinstance(table, pd.DataFrame)
    garments = analysis.accuracy_by_rows_read(model, x, y, rows=list(analysis.ALL_ROWS),
                                              class_names=FASHION_CLASS_NAMES)
    assert garments.columns.tolist() == ["all garments", *FASHION_CLASS_NAMES]
    assert garments.loc[28, "all garments"] == pytest.approx(full_accuracy)
    assert garments.loc[14, "Shirt"] == pytest.approx(table.loc[14, "6"])  # label 6: the same images


def test_reading_prefixes_of_every_length_is_quiet(caplog):
    """TensorFlow warns when it retraces the predict step for each prefix length; those warnings are expected."""
    from rnn_mnist.model import build_model

    model = build_model("simple_rnn", 3)
    x = np.random.default_rng(2).random((12, ROWS, PIXELS_PER_ROW), dtype=np.float32)
    with caplog.at_level("WARNING"):
        table = analysis.accuracy_by_rows_read(model, x, np.arange(12) % NUM_CLASSES)
    assert list(table.index) == list(analysis.ALL_ROWS)
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]


def test_rows_to_reach_first_row_at_or_above_the_level():
    table = pd.DataFrame(
        {"all digits": [0.1, 0.5, 0.4, 0.9], "3": [0.0, 0.0, 1.0, 1.0]},
        index=pd.Index([1, 2, 3, 4], name="rows read"),
    )
    assert analysis.rows_to_reach(table, 0.5) == 2
    assert analysis.rows_to_reach(table, 0.9) == 4
    assert analysis.rows_to_reach(table, 0.95) is None
    assert analysis.rows_to_reach(table, 1.0, column="3") == 3


def test_rows_to_reach_per_class_is_an_integer_or_missing():
    rows = pd.Index(range(1, ROWS + 1), name="rows read")
    table = pd.DataFrame({"all garments": np.linspace(0, 1, ROWS)}, index=rows)
    for position, name in enumerate(FASHION_CLASS_NAMES):
        table[name] = np.linspace(0, 1, ROWS) if position < 9 else np.zeros(ROWS)
    table["T-shirt/top"] = [0.0] * 10 + [1.0] * 18
    needed = analysis.rows_to_reach_per_class(table, fraction=0.9)
    assert needed.index.tolist() == list(FASHION_CLASS_NAMES)
    assert needed["T-shirt/top"] == 11 and needed["Trouser"] == 26
    assert pd.isna(needed["Ankle boot"])  # never right, so there is no row to name
    assert str(needed.dtype) == "Int64" and needed.name == "rows to 90% of final accuracy"
    assert "nan" not in needed.to_frame().style.format(na_rep="never right").to_html()


def test_history_frame_leaves_out_the_run_store_bookkeeping():
    history = {"epoch": [0, 1], "loss": [0.5, 0.3], "val_accuracy": [0.9, 0.95],
               "epoch_seconds": [3.0, 2.0], "first_epoch_of_fit": [1, 0]}
    table = analysis.history_frame(history)
    assert "first_epoch_of_fit" not in table.columns and list(table.index) == [1, 2]
    assert table["elapsed_seconds"].tolist() == [3.0, 5.0]
