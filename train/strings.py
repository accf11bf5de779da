"""The strings of each training epoch, fed to Keras from TensorFlow variables."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from train.config import TrainConfig
from train.data import N_BITS, count_ones, mix_bits, to_inputs

# Seed-sequence tag of the training stream (the others: train.validation, train.fit and
# train.evaluate), so no two streams coincide whatever seeds are chosen.
TRAIN_STREAM = 1


class TrainingStrings:
    """The strings of one epoch, generated when the epoch begins from ``(seed, epoch)``.

    They live in two TensorFlow variables that ``dataset()`` slices batch by batch,
    so ``fit`` reads them inside its compiled loop: about a fifth faster per epoch
    than handing Keras a Python dataset, with the same batches in the same order.
    The dataset does not prefetch, so no batch is read before ``prepare`` has
    written the epoch's strings.
    """

    def __init__(self, config: TrainConfig, n_bits: int = N_BITS):
        self.config = config
        self.n_bits = n_bits
        n = config.examples_per_epoch
        # On the CPU, where tf.data runs: a dataset cannot read a variable held on a GPU.
        with tf.device("/CPU:0"):
            self.inputs = tf.Variable(tf.zeros((n, n_bits, 1), tf.float32), trainable=False,
                                      name="epoch_inputs")
            self.counts = tf.Variable(tf.zeros((n,), tf.int64), trainable=False,
                                      name="epoch_counts")

    def __len__(self) -> int:
        return self.config.steps_per_epoch

    def dataset(self) -> tf.data.Dataset:
        """Batch ``i`` of the current epoch, for i in 0..steps_per_epoch - 1."""
        size = self.config.batch_size

        def batch(i):
            rows = tf.range(i * size, (i + 1) * size)
            return tf.gather(self.inputs, rows), tf.gather(self.counts, rows)

        return tf.data.Dataset.range(len(self)).map(batch)

    def prepare(self, epoch: int) -> None:
        c = self.config
        rng = np.random.default_rng([c.seed, TRAIN_STREAM, epoch])
        bits = mix_bits(c.examples_per_epoch, rng, c.stratified_fraction, c.clustered_fraction,
                        self.n_bits)
        self.inputs.assign(to_inputs(bits))
        self.counts.assign(count_ones(bits))


class EpochStrings(keras.callbacks.Callback):
    """Generates each epoch's strings at its start (after a resume: the right epoch's)."""

    def __init__(self, strings: TrainingStrings):
        super().__init__()
        self.strings = strings

    def on_epoch_begin(self, epoch, logs=None):
        self.strings.prepare(epoch)
