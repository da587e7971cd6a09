"""The training engines and their one source of batch orders: `train.engine` chooses who executes the
post's minibatch SGD, never which batches it takes.

`batch_orders` draws each epoch's row order from the model seed. The keras engine feeds `model.fit` one
epoch at a time, in that order with `shuffle=False`: left to shuffle itself under
`keras.utils.set_random_seed`, Keras 3 restarts its seeded shuffle in every epoch and repeats one order
(measured: the same first indices in all 4 epochs, for seeds 42 and 7), which is not the post's
algorithm. The compiled engine runs the same SGD, one whole epoch per call inside one XLA graph:
`model.fit` spends almost all its time on per-step framework overhead (782 steps an epoch for a
7-parameter network); here each epoch is a `tf.while_loop` over batches with the gradient written
out, the bias folded into the input as a column of ones, so a step is a handful of fused ops. Both
take SGD on the batch-mean squared error, the final partial batch included, in float32.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

from pipeline.core.network import network_weights
from pipeline.core.weights import NetworkWeights

EpochResult = tuple[list[NetworkWeights], np.ndarray]  # every network's weights and mean training loss


def batch_orders(n_rows: int, epochs: int, seed: int) -> Iterator[np.ndarray]:
    """A fresh random order of the rows for every epoch, reproducible from the seed: both engines' only
    source of batches."""
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        yield rng.permutation(n_rows)


def keras_epochs(
    model: keras.Model, z: np.ndarray, y: np.ndarray, orders: Iterator[np.ndarray], *, batch_size: int, lr: float
) -> Iterator[EpochResult]:
    """The post's `model.fit` with SGD on MSE, one call per epoch on the rows in that epoch's order."""
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    for order in orders:
        history = model.fit(z[order], y[order], epochs=1, batch_size=batch_size, shuffle=False, verbose=0)
        yield [network_weights(model)], np.array(history.history["loss"], dtype=np.float64)


def _sgd_step(theta, w2, b2, xb, yb, lr):
    """One SGD step of K networks at once on mean((w2*relu(xb@theta) + b2 - yb)^2).

    theta (K, d+1) holds each network's W1 and b1 (last column); w2, b2 (K,). Each network's gradient
    depends on its own weights only, so K networks trained together are K independent trainings.
    """
    hidden = tf.matmul(xb, theta, transpose_b=True)  # (batch, K)
    active = tf.cast(hidden > 0, tf.float32)
    residual = w2 * tf.nn.relu(hidden) + b2 - yb[:, None]
    grad_out = 2.0 * residual / tf.cast(tf.shape(xb)[0], tf.float32)  # d loss / d prediction
    grad_theta = tf.matmul(grad_out * w2 * active, xb, transpose_a=True)  # (K, d+1)
    grad_w2 = tf.reduce_sum(grad_out * tf.nn.relu(hidden), axis=0)
    grad_b2 = tf.reduce_sum(grad_out, axis=0)
    loss = tf.reduce_mean(residual * residual, axis=0)
    return theta - lr * grad_theta, w2 - lr * grad_w2, b2 - lr * grad_b2, loss


def _epoch_function(n_rows: int, batch_size: int, lr: float, inits: int):
    full_batches, rest = divmod(n_rows, batch_size)
    lr = tf.constant(lr, tf.float32)

    @tf.function(jit_compile=True)
    def epoch(theta, w2, b2, x, y, order):
        # One gather for the epoch, then contiguous slices: XLA's per-step gather on CPU is ~100x slower.
        x, y = tf.gather(x, order), tf.gather(y, order)
        width = x.shape[1]

        def body(i, theta, w2, b2, loss_sum):
            xb = tf.slice(x, [i * batch_size, 0], [batch_size, width])
            yb = tf.slice(y, [i * batch_size], [batch_size])
            theta, w2, b2, loss = _sgd_step(theta, w2, b2, xb, yb, lr)
            return i + 1, theta, w2, b2, loss_sum + loss * batch_size

        loss_sum = tf.zeros([inits])
        if full_batches:  # none when one batch is larger than the data: fit then takes all rows at once
            _, theta, w2, b2, loss_sum = tf.while_loop(
                lambda i, *_: i < full_batches, body, (tf.constant(0), theta, w2, b2, loss_sum)
            )
        if rest:  # the final partial batch, as fit takes it
            start = full_batches * batch_size
            theta, w2, b2, loss = _sgd_step(theta, w2, b2, x[start:], y[start:], lr)
            loss_sum += loss * rest
        return theta, w2, b2, loss_sum / n_rows  # fit's epoch loss: batch losses weighted by batch size

    return epoch


def sgd_epochs(
    initials: Sequence[NetworkWeights],
    z: np.ndarray,
    y: np.ndarray,
    orders: Iterator[np.ndarray],
    *,
    batch_size: int,
    lr: float,
) -> Iterator[EpochResult]:
    """The compiled engine: one network per initial weight set, all on the same batches; after each epoch
    yield every network's weights and mean training loss."""
    n_rows = len(z)
    x = tf.constant(np.hstack([z, np.ones((n_rows, 1))]), tf.float32)
    targets = tf.constant(y, tf.float32)
    theta = tf.constant([np.append(w.W1, w.b1) for w in initials], tf.float32)
    w2 = tf.constant([w.w2 for w in initials], tf.float32)
    b2 = tf.constant([w.b2 for w in initials], tf.float32)
    epoch = _epoch_function(n_rows, batch_size, lr, len(initials))
    for order in orders:
        theta, w2, b2, loss = epoch(theta, w2, b2, x, targets, tf.constant(order, tf.int32))
        thetas, w2s, b2s = theta.numpy().astype(np.float64), w2.numpy(), b2.numpy()
        weights = [
            NetworkWeights(W1=t[:-1], b1=float(t[-1]), w2=float(a), b2=float(b)) for t, a, b in zip(thetas, w2s, b2s, strict=True)
        ]
        yield weights, loss.numpy().astype(np.float64)
