"""Soft ordinal targets: the loss the model trains on, and the readout at its optimum.

The target for a string with ``y`` ones is not one-hot but a Gaussian over the counts,
``q_k ~ exp(-(k - y)**2 / (2 * width**2))`` (soft ordinal regression, SORD: Diaz and
Marathe, CVPR 2019). With one-hot targets the loss only reaches zero as the logits grow
without bound, so training keeps widening margins on strings it already counts right and
nothing pulls the counter's gain to exactly one. With Gaussian targets the optimum is at
finite logits, ``z_k = (k * y - k**2 / 2) / width**2`` plus any constant: affine in the
count, which a network linear in the bits can reach exactly. There, neighbouring counts
are ``1 / (2 * width**2)`` apart (2.0 for the default width of 0.5), and every string
still pulls on the count like a squared error.

``fit_readout`` puts the Dense layer at that optimum for the count the recurrent state
predicts best: the least-squares fit ``y ~ u . h + beta`` over generated strings gives
``kernel[:, k] = k * u / width**2`` and ``bias_k = (k * beta - k**2 / 2) / width**2``.
The readout's biases must span thousands of logits, and Adam moves a weight by about
one learning rate per step: from a random readout, gradient steps alone take millions
of strings to get there.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from train.data import count_ones, to_inputs

# Relative ridge of the least-squares fit: enough to keep nearly collinear units from
# getting huge opposite weights, far too little to bias the count.
RIDGE = 1e-9


class OrdinalCrossEntropy(keras.losses.Loss):
    """Cross-entropy of the logits against Gaussian targets of ``width`` around the count."""

    def __init__(self, width: float, n_classes: int, name: str = "ordinal_cross_entropy"):
        super().__init__(name=name)
        self.width = float(width)
        self.n_classes = int(n_classes)

    def call(self, y_true, y_pred):
        counts = tf.cast(tf.reshape(y_true, (-1, 1)), y_pred.dtype)
        classes = tf.range(self.n_classes, dtype=y_pred.dtype)[None, :]
        targets = tf.nn.softmax(-(classes - counts) ** 2 / (2.0 * self.width ** 2), axis=1)
        return -tf.reduce_sum(targets * tf.nn.log_softmax(y_pred, axis=1), axis=1)

    def get_config(self):
        return {"width": self.width, "n_classes": self.n_classes, "name": self.name}


def optimal_readout(u: np.ndarray, beta: float, width: float,
                    n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense kernel ``[units, classes]`` and bias ``[classes]`` whose logits are the
    Gaussian targets' optimum for the count estimate ``u . h + beta``."""
    k = np.arange(n_classes, dtype=np.float64)
    kernel = np.outer(np.asarray(u, np.float64), k) / width ** 2
    bias = (beta * k - k ** 2 / 2.0) / width ** 2
    return kernel.astype(np.float32), bias.astype(np.float32)


def fit_readout(model: keras.Model, bits: np.ndarray, width: float) -> dict:
    """Set ``model``'s Dense layer from the least-squares count estimate on ``bits``.

    Returns the fit's figures: strings used, root-mean-square error of the count estimate.
    """
    state = keras.Model(model.inputs, model.get_layer("rnn").output)
    features = state.predict(to_inputs(bits), batch_size=8192, verbose=0).astype(np.float64)
    design = np.concatenate([features, np.ones((len(features), 1))], axis=1)
    counts = count_ones(bits).astype(np.float64)
    gram = design.T @ design
    ridge = RIDGE * np.trace(gram[:-1, :-1]) * np.eye(len(gram))
    ridge[-1, -1] = 0.0  # the offset is not shrunk
    solution = np.linalg.solve(gram + ridge, design.T @ counts)
    n_classes = model.output_shape[-1]
    model.get_layer("logits").set_weights(
        list(optimal_readout(solution[:-1], float(solution[-1]), width, n_classes)))
    residual = design @ solution - counts
    return {"strings": int(len(bits)), "rms_error": float(np.sqrt(np.mean(residual ** 2)))}
