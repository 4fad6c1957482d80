import numpy as np
import pytest

from rnn_mnist.model import build_model, lstm_parameter_count, prefix_reader


def test_default_model_is_the_seed_model():
    model = build_model()
    assert model.count_params() == 81_674
    assert [layer.__class__.__name__ for layer in model.layers] == ["InputLayer", "LSTM", "Dense"]
    assert model.input_shape == (None, 28, 28) and model.output_shape == (None, 10)


def test_hand_count_follows_the_four_gates():
    assert lstm_parameter_count() == 4 * (128 * (28 + 128) + 128) + 10 * 128 + 10 == 81_674
    assert build_model(units=32).count_params() == lstm_parameter_count(32)


def test_default_lstm_keeps_cudnn_eligible_arguments():
    lstm = build_model().get_layer("lstm")
    assert lstm.activation.__name__ == "tanh"
    assert lstm.recurrent_activation.__name__ == "sigmoid"
    assert lstm.recurrent_dropout == 0 and not lstm.unroll and lstm.use_bias


@pytest.mark.parametrize(
    ("cell", "units", "bidirectional", "expected"),
    [
        ("gru", 128, False, 3 * (128 * (28 + 128) + 2 * 128) + 1290),
        ("simple_rnn", 128, False, 128 * (28 + 128) + 128 + 1290),
        ("lstm", 64, True, 2 * lstm_parameter_count(64, classes=0) + 10 * 128 + 10),
        ("dense", 128, False, 784 * 128 + 128 + 1290),
    ],
)
def test_other_cells_have_their_textbook_parameter_counts(cell, units, bidirectional, expected):
    assert build_model(cell, units, bidirectional=bidirectional).count_params() == expected


def test_dropout_is_a_separate_layer():
    model = build_model(dropout=0.25)
    assert model.get_layer("dropout").rate == 0.25
    assert model.get_layer("lstm").dropout == 0


def test_unknown_cell_names_the_parameter():
    with pytest.raises(ValueError, match="'cell'"):
        build_model("transformer")


def test_prefix_reader_matches_the_model_on_all_rows_and_accepts_fewer():
    model = build_model(units=8)
    reader = prefix_reader(model)
    images = np.random.default_rng(0).random((4, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(reader.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)
    assert reader.predict(images[:, :5], verbose=0).shape == (4, 10)
