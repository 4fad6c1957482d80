"""The book's training recipe, in stock Keras: what chapter 3 shows and runs.

Chapter 3 ("Training the LSTM") prints these three functions in its code cells
and runs them; ``tests/test_recipe_in_view.py`` checks that the chapter's cells
are this source, character for character, so the code a reader sees is the
code that trains every stored run (:func:`rnn_mnist.runs.ensure_trained` calls
:func:`fit_recipe`).

Only public Keras API is used: ``keras.optimizers.Adam`` with its weight
average (``use_ema``), ``keras.optimizers.schedules.CosineDecay`` with its
warm-up arguments, ``keras.layers.RandomTranslation``, ``compile`` and ``fit``.
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


def with_random_shifts(model, shift_pixels, seed):
    """``model`` behind a random shift of each training image by up to ``shift_pixels`` pixels."""
    if shift_pixels == 0:
        return model
    rows, pixels_per_row = model.input_shape[1:]
    images = keras.Input(shape=(rows, pixels_per_row))
    x = keras.layers.Reshape((rows, pixels_per_row, 1))(images)  # RandomTranslation works on images
    x = keras.layers.RandomTranslation(shift_pixels / rows, shift_pixels / pixels_per_row, fill_mode="constant", seed=seed)(x)
    x = keras.layers.Reshape((rows, pixels_per_row))(x)
    return keras.Model(images, model(x))  # the same layers and weights as model


def fit_recipe(model, config, splits, callbacks=(), verbose="auto"):
    """Compile and fit ``model`` with the config's recipe; returns Keras's ``History``."""
    steps_per_epoch = math.ceil(len(splits.x_train) / config.batch_size)
    trainer = with_random_shifts(model, config.shift_pixels, config.seed)
    trainer.compile(
        optimizer=make_optimizer(config, steps_per_epoch),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
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
