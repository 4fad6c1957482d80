"""The book's training recipe, in stock Keras: what chapter 3 shows and runs.

Chapter 3 ("Training the LSTM") prints these three functions in its code cells
and runs them; ``tests/test_recipe_in_view.py`` checks that the chapter's cells
are this source, character for character, so the code a reader sees is the
code that trains every stored run (:func:`rnn_mnist.runs.ensure_trained` calls
:func:`fit_recipe`).

Only public Keras API is used: ``keras.optimizers.Adam`` with its weight
average (``use_ema``), ``keras.optimizers.schedules.CosineDecay`` with its
warm-up arguments, ``compile`` and ``fit``, and one small layer of the book's own
built from ``keras.ops``, :class:`RandomShift` (why: its docstring).
"""

from __future__ import annotations

import math

import keras


def make_optimizer(config, steps_per_epoch):
    """Adam with the recipe's learning-rate schedule, gradient clipping and weight average."""
    total_steps = config.epochs * steps_per_epoch
    learning_rate = config.learning_rate
    if config.schedule == "warmup_cosine":
        warmup_steps = round(config.warmup_epochs * steps_per_epoch)
        learning_rate = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=config.learning_rate / 100,  # where the linear warm-up starts
            warmup_target=config.learning_rate,  # the peak, reached after warmup_steps
            warmup_steps=warmup_steps,
            decay_steps=max(1, total_steps - warmup_steps),  # then a cosine down to alpha * peak
            alpha=config.min_learning_rate / config.learning_rate,
        )
    # The average remembers about 1 / (1 - momentum) steps: at most a tenth of a short run.
    use_ema = config.ema_momentum is not None and total_steps > 10
    return keras.optimizers.Adam(
        learning_rate=learning_rate,
        clipnorm=config.clipnorm,  # each weight tensor's gradient is scaled down to norm <= clipnorm
        use_ema=use_ema,
        ema_momentum=min(config.ema_momentum, 1 - 10 / total_steps) if use_ema else 0.99,
        ema_overwrite_frequency=steps_per_epoch if use_ema else None,  # the average replaces the weights every epoch
    )


class RandomShift(keras.layers.Layer):
    """Moves each training image by its own random offset of up to ``max_pixels`` rows and columns.

    A shift is a matrix product: ``rows @ image @ columns.T``, where the row
    matrix holds, for each output row, the weights of the input rows it reads
    (bilinear: 1 - distance, for the two nearest). Pixels shifted in from
    outside are black. Like ``keras.layers.RandomTranslation`` it acts only in
    training; unlike it, it compiles with the rest of the training step on
    every backend (``RandomTranslation`` makes JAX run the whole step op by op).
    """

    def __init__(self, max_pixels, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.max_pixels = max_pixels
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training:
            return images
        batch, rows, columns = keras.ops.shape(images)
        offsets = keras.random.uniform((batch, 2), -self.max_pixels, self.max_pixels, seed=self.seed_generator)
        row_matrices = self.shift_matrices(offsets[:, 0], rows)
        column_matrices = self.shift_matrices(offsets[:, 1], columns)
        return keras.ops.matmul(keras.ops.matmul(row_matrices, images), keras.ops.transpose(column_matrices, (0, 2, 1)))

    @staticmethod
    def shift_matrices(offsets, size):
        """``[b, i, j]``: how much output pixel ``i`` takes from input pixel ``j`` when moved by ``offsets[b]``."""
        positions = keras.ops.arange(size, dtype="float32")
        source = positions[None, :, None] - offsets[:, None, None]  # where output pixel i reads from
        return keras.ops.relu(1.0 - keras.ops.abs(positions[None, None, :] - source))

    def get_config(self):
        return {**super().get_config(), "max_pixels": self.max_pixels, "seed": self.seed}


def with_random_shifts(model, shift_pixels, seed):
    """``model`` behind a random shift of each training image by up to ``shift_pixels`` pixels."""
    if shift_pixels == 0:
        return model
    images = keras.Input(shape=model.input_shape[1:])
    shifted = RandomShift(shift_pixels, seed=seed, name="random_shift")(images)
    return keras.Model(images, model(shifted))  # the same layers and weights as model


def fit_recipe(model, config, splits, callbacks=(), verbose="auto", steps_per_execution=1):
    """Compile and fit ``model`` with the config's recipe; returns Keras's ``History``."""
    steps_per_epoch = math.ceil(len(splits.x_train) / config.batch_size)
    trainer = with_random_shifts(model, config.shift_pixels, config.seed)
    trainer.compile(
        optimizer=make_optimizer(config, steps_per_epoch),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,  # training steps per call from Python: speed only
    )
    return trainer.fit(
        splits.x_train,
        splits.y_train,
        batch_size=config.batch_size,
        epochs=config.epochs,
        validation_data=(splits.x_val, splits.y_val),
        callbacks=list(callbacks),
        verbose=verbose,
    )
