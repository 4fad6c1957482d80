"""The recurrent classifier: an image read as 28 time steps of 28 pixels.

Written against the Keras 3 API only, so it runs on TensorFlow (the default)
and on the JAX or PyTorch backends. With the defaults the recurrent layer keeps
the arguments that make it eligible for the fused cuDNN kernel on a GPU
(tanh / sigmoid activations, no recurrent dropout, not unrolled, with bias);
dropout, when asked for, is a separate layer so it does not break that.
"""

from __future__ import annotations

import keras

from .config import CELLS, TrainingConfig

ROWS, PIXELS_PER_ROW, NUM_CLASSES = 28, 28, 10

_RECURRENT_LAYERS = {
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
    "simple_rnn": keras.layers.SimpleRNN,
}


def build_model(
    cell: str = "lstm",
    units: int = 128,
    *,
    bidirectional: bool = False,
    dropout: float = 0.0,
    input_shape: tuple[int | None, int] = (ROWS, PIXELS_PER_ROW),
    num_classes: int = NUM_CLASSES,
) -> keras.Model:
    """Input (28, 28) -> recurrent layer -> Dense(10, softmax).

    The defaults are the seed notebook's model exactly: ``LSTM(128)`` then
    ``Dense(10, softmax)``, 81,674 parameters. ``cell="dense"`` is the
    non-recurrent baseline: the image flattened into a Dense(units, relu) layer.
    """
    if cell not in CELLS:
        raise ValueError(f"Invalid value for 'cell': {cell!r}. Allowed: one of {', '.join(CELLS)}.")
    inputs = keras.Input(shape=input_shape, name="rows")
    if cell == "dense":
        if input_shape[0] is None:
            raise ValueError("cell='dense' needs a fixed number of rows in input_shape")
        features = keras.layers.Flatten(name="flatten")(inputs)
        features = keras.layers.Dense(units, activation="relu", name="hidden")(features)
    else:
        recurrent = _RECURRENT_LAYERS[cell](units, name=cell)
        if bidirectional:
            recurrent = keras.layers.Bidirectional(recurrent, name=f"bidirectional_{cell}")
        features = recurrent(inputs)
    if dropout > 0:
        features = keras.layers.Dropout(dropout, name="dropout")(features)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="digit")(features)
    name = f"{'bi' if bidirectional else ''}{cell}_{units}"
    return keras.Model(inputs, outputs, name=name)


def build_model_for(config: TrainingConfig) -> keras.Model:
    return build_model(config.cell, config.units, bidirectional=config.bidirectional, dropout=config.dropout)


def parameter_count(
    cell: str = "lstm",
    units: int = 128,
    *,
    bidirectional: bool = False,
    reset_after: bool = True,
    inputs: int = PIXELS_PER_ROW,
    rows: int = ROWS,
    classes: int = NUM_CLASSES,
) -> int:
    """Trainable parameters of ``build_model(cell, units, bidirectional=...)``, by formula.

    Every recurrent cell has, per gate, an input kernel ``inputs x units``, a
    recurrent kernel ``units x units`` and a bias of ``units``: SimpleRNN has
    one such set, LSTM four (input, forget and output gates, candidate), GRU
    three (update and reset gates, candidate). Keras builds its GRU with
    ``reset_after=True`` (the reset gate applied after the recurrent matrix
    product, as cuDNN does), which gives every gate a second bias for the
    recurrent part: ``3 x units`` more than the textbook GRU
    (``reset_after=False``). A bidirectional layer holds two cells and passes
    on both final states. The dense baseline is one ReLU layer on the
    flattened image, ``rows * inputs`` numbers. The classifier head is
    ``Dense(classes)`` on the features.
    """
    if cell == "dense":
        if bidirectional:
            raise ValueError("the dense baseline has no direction to double")
        features = units
        body = rows * inputs * units + units
    else:
        per_gate = units * (inputs + units) + units
        gru_biases = units if reset_after else 0
        gates = {"simple_rnn": per_gate, "lstm": 4 * per_gate, "gru": 3 * (per_gate + gru_biases)}
        if cell not in gates:
            raise ValueError(f"Invalid value for 'cell': {cell!r}. Allowed: one of {', '.join(CELLS)}.")
        directions = 2 if bidirectional else 1
        features = directions * units
        body = directions * gates[cell]
    return body + features * classes + classes


def lstm_parameter_count(units: int = 128, inputs: int = PIXELS_PER_ROW, classes: int = NUM_CLASSES) -> int:
    """Parameters of LSTM(units) + Dense(classes), counted by hand: :func:`parameter_count` for ``"lstm"``.

    Each of the four gates (input, forget, cell candidate, output) has a kernel
    ``inputs x units``, a recurrent kernel ``units x units`` and a bias ``units``.
    """
    return parameter_count("lstm", units, inputs=inputs, classes=classes)


def prefix_reader(model: keras.Model) -> keras.Model:
    """The same trained layers, accepting any number of rows (``(None, 28)``).

    Recurrent weights do not depend on the sequence length, so feeding the
    first ``k`` rows asks what the model would answer having read only those.
    """
    inputs = keras.Input(shape=(None, PIXELS_PER_ROW), name="first_rows")
    x = inputs
    for layer in model.layers[1:]:
        x = layer(x)
    return keras.Model(inputs, x, name=f"{model.name}_prefix_reader")
