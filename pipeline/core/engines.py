"""The training engines and their one source of batch orders: `train.engine` chooses who executes the
training, never which batches it takes or how it steps.

`batch_orders` draws each epoch's row order from the model seed. The keras engine feeds `model.fit` one
epoch at a time, in that order with `shuffle=False`: left to shuffle itself under
`keras.utils.set_random_seed`, Keras 3 restarts its seeded shuffle in every epoch and repeats one order
(measured: the same first indices in all 4 epochs, for seeds 42 and 7), which is not the post's
algorithm. The compiled engine runs the same training, one whole epoch per call inside one XLA graph:
`model.fit` spends almost all its time on per-step framework overhead (782 steps an epoch for a
7-parameter network); here each epoch is a `tf.while_loop` over batches with the gradient written
out (an activation's derivative is 1 above zero and its off slope below), the bias folded into the input
as a column of ones, so a step is a handful of fused ops. Its optimizers are Keras 3's update rules with
Keras's own arithmetic and defaults (keras/src/optimizers/sgd.py and adam.py), and their state (momentum
buffers, Adam's moments and step count) goes into every epoch's graph and comes back out, as a compiled
Keras optimizer's variables outlive each `fit`. Both take the batch-mean squared error, the final partial
batch included, in float32.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

from pipeline.config import Activation, ModelConfig, Optimizer, TrainConfig
from pipeline.core.network import network_weights
from pipeline.core.weights import NetworkWeights, off_slope

EpochResult = tuple[list[NetworkWeights], np.ndarray]  # every network's weights and mean training loss

# K networks of width H are K*H hidden units side by side, network k's in rows k*H to k*H+H-1:
# theta (K*H, d+1) holds each unit's column of W1 and its b1 (last column), w2 (K*H,), b2 (K,).
Params = tuple[tf.Tensor, tf.Tensor, tf.Tensor]
State = tuple  # an optimizer's tensors between steps: () for SGD
Update = Callable[[Params, Params, State], tuple[Params, State]]  # (params, their gradients, state) -> next
Activate = Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]  # pre-activation -> (activation, derivative)

# keras.optimizers.Adam's defaults: what train.optimizer=adam means in both engines.
ADAM_BETA_1 = 0.9
ADAM_BETA_2 = 0.999
ADAM_EPSILON = 1e-7


def batch_orders(n_rows: int, epochs: int, seed: int) -> Iterator[np.ndarray]:
    """A fresh random order of the rows for every epoch, reproducible from the seed: both engines' only
    source of batches."""
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        yield rng.permutation(n_rows)


def keras_optimizer(train: TrainConfig) -> keras.optimizers.Optimizer:
    """The keras engine's optimizer; Adam's constants given, so both engines keep them if Keras's defaults move."""
    if train.optimizer is Optimizer.momentum:
        return keras.optimizers.SGD(learning_rate=train.lr, momentum=train.momentum)
    if train.optimizer is Optimizer.adam:
        return keras.optimizers.Adam(learning_rate=train.lr, beta_1=ADAM_BETA_1, beta_2=ADAM_BETA_2, epsilon=ADAM_EPSILON)
    return keras.optimizers.SGD(learning_rate=train.lr)


def keras_epochs(
    network: keras.Model,
    z: np.ndarray,
    y: np.ndarray,
    orders: Iterator[np.ndarray],
    *,
    batch_size: int,
    train: TrainConfig,
) -> Iterator[EpochResult]:
    """The post's `model.fit` on MSE, one call per epoch on the rows in that epoch's order. Compiled once, so
    the optimizer's state carries from one epoch into the next."""
    network.compile(optimizer=keras_optimizer(train), loss="mse")
    for order in orders:
        history = network.fit(z[order], y[order], epochs=1, batch_size=batch_size, shuffle=False, verbose=0)
        yield [network_weights(network)], np.array(history.history["loss"], dtype=np.float64)


def _activation(model: ModelConfig) -> Activate:
    """The activation and its derivative as Keras differentiates it: 1 above zero, the off slope at and below."""
    if model.activation is Activation.relu:
        return lambda hidden: (tf.nn.relu(hidden), tf.cast(hidden > 0, tf.float32))
    slope = off_slope(model)
    return lambda hidden: (tf.where(hidden > 0, hidden, slope * hidden), tf.where(hidden > 0, 1.0, slope))


def _gradients(params: Params, xb: tf.Tensor, yb: tf.Tensor, activate: Activate, width: int) -> tuple[Params, tf.Tensor]:
    """The gradients of every network's mean((sum_j w2_j * act(xb @ theta_j) + b2 - yb)^2) and that loss.

    Each network's gradient depends on its own weights only, so K networks trained together are K independent
    trainings.
    """
    theta, w2, b2 = params
    hidden = tf.matmul(xb, theta, transpose_b=True)  # (batch, K*H)
    activated, derivative = activate(hidden)
    units = tf.reshape(w2 * activated, [-1, b2.shape[0], width])  # (batch, K, H)
    residual = tf.reduce_sum(units, axis=2) + b2 - yb[:, None]  # (batch, K)
    grad_out = 2.0 * residual / tf.cast(tf.shape(xb)[0], tf.float32)  # d loss / d prediction
    grad_units = tf.repeat(grad_out, width, axis=1)  # each network's, for every one of its units
    grad_theta = tf.matmul(grad_units * w2 * derivative, xb, transpose_a=True)  # (K*H, d+1)
    grad_w2 = tf.reduce_sum(grad_units * activated, axis=0)
    grad_b2 = tf.reduce_sum(grad_out, axis=0)
    loss = tf.reduce_mean(residual * residual, axis=0)
    return (grad_theta, grad_w2, grad_b2), loss


def _sgd(lr: tf.Tensor) -> Update:
    """Keras's plain SGD, the post's: the variable -= lr*g."""

    def update(params: Params, grads: Params, state: State) -> tuple[Params, State]:
        return tuple(p - lr * g for p, g in zip(params, grads, strict=True)), state

    return update


def _momentum(lr: tf.Tensor, momentum: float) -> Update:
    """Keras's SGD with (non-Nesterov) momentum: m = momentum*m - lr*g, then the variable += m."""
    momentum = tf.constant(momentum, tf.float32)

    def update(params: Params, grads: Params, velocities: State) -> tuple[Params, State]:
        velocities = tuple(m * momentum - g * lr for m, g in zip(velocities, grads, strict=True))
        return tuple(p + m for p, m in zip(params, velocities, strict=True)), velocities

    return update


def _adam(lr: tf.Tensor) -> Update:
    """Keras's Adam: bias correction folded into the step size, epsilon added outside the square root."""
    beta_1, beta_2 = tf.constant(ADAM_BETA_1, tf.float32), tf.constant(ADAM_BETA_2, tf.float32)
    one_minus_beta_1, one_minus_beta_2 = tf.constant(1 - ADAM_BETA_1, tf.float32), tf.constant(1 - ADAM_BETA_2, tf.float32)
    epsilon = tf.constant(ADAM_EPSILON, tf.float32)

    def update(params: Params, grads: Params, state: State) -> tuple[Params, State]:
        steps, ms, vs = state
        steps += 1  # Keras's optimizer.iterations + 1: the first step is 1, counted across epochs
        step = tf.cast(steps, tf.float32)
        alpha = lr * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))
        ms = tuple(m + (g - m) * one_minus_beta_1 for m, g in zip(ms, grads, strict=True))
        vs = tuple(v + (g * g - v) * one_minus_beta_2 for v, g in zip(vs, grads, strict=True))
        params = tuple(p - m * alpha / (tf.sqrt(v) + epsilon) for p, m, v in zip(params, ms, vs, strict=True))
        return params, (steps, ms, vs)

    return update


def _optimizer(train: TrainConfig, params: Params) -> tuple[Update, State]:
    """The configured optimizer's update and its state before the first step."""
    lr = tf.constant(train.lr, tf.float32)
    if train.optimizer is Optimizer.momentum:
        return _momentum(lr, train.momentum), tuple(tf.zeros_like(p) for p in params)
    if train.optimizer is Optimizer.adam:
        zeros = tuple(tf.zeros_like(p) for p in params)
        return _adam(lr), (tf.constant(0, tf.int64), zeros, zeros)
    return _sgd(lr), ()


def _epoch_function(n_rows: int, batch_size: int, inits: int, width: int, activate: Activate, update: Update):
    full_batches, rest = divmod(n_rows, batch_size)

    def step(params: Params, state: State, xb: tf.Tensor, yb: tf.Tensor) -> tuple[Params, State, tf.Tensor]:
        grads, loss = _gradients(params, xb, yb, activate, width)
        return *update(params, grads, state), loss

    @tf.function(jit_compile=True)
    def epoch(params, state, x, y, order):
        # One gather for the epoch, then contiguous slices: XLA's per-step gather on CPU is ~100x slower.
        x, y = tf.gather(x, order), tf.gather(y, order)
        columns = x.shape[1]

        def body(i, params, state, loss_sum):
            xb = tf.slice(x, [i * batch_size, 0], [batch_size, columns])
            yb = tf.slice(y, [i * batch_size], [batch_size])
            params, state, loss = step(params, state, xb, yb)
            return i + 1, params, state, loss_sum + loss * batch_size

        loss_sum = tf.zeros([inits])
        if full_batches:  # none when one batch is larger than the data: fit then takes all rows at once
            _, params, state, loss_sum = tf.while_loop(
                lambda i, *_: i < full_batches, body, (tf.constant(0), params, state, loss_sum)
            )
        if rest:  # the final partial batch, as fit takes it
            start = full_batches * batch_size
            params, state, loss = step(params, state, x[start:], y[start:])
            loss_sum += loss * rest
        return params, state, loss_sum / n_rows  # fit's epoch loss: batch losses weighted by batch size

    return epoch


def _pack(initials: Sequence[NetworkWeights]) -> Params:
    theta = np.concatenate([np.hstack([w.W1.T, np.reshape(w.b1, (-1, 1))]) for w in initials])
    w2 = np.concatenate([w.w2 for w in initials])
    return (
        tf.constant(theta, tf.float32),
        tf.constant(w2, tf.float32),
        tf.constant([w.b2 for w in initials], tf.float32),
    )


def _unpack(params: Params, width: int) -> list[NetworkWeights]:
    theta, w2, b2 = (p.numpy().astype(np.float64) for p in params)
    thetas, w2s = theta.reshape(len(b2), width, -1), w2.reshape(len(b2), width)
    return [NetworkWeights(W1=t[:, :-1].T, b1=t[:, -1], w2=a, b2=b) for t, a, b in zip(thetas, w2s, b2, strict=True)]


def compiled_epochs(
    initials: Sequence[NetworkWeights],
    z: np.ndarray,
    y: np.ndarray,
    orders: Iterator[np.ndarray],
    *,
    model: ModelConfig,
    train: TrainConfig,
) -> Iterator[EpochResult]:
    """The compiled engine: one network of `model`'s width and activation per initial weight set, all on the
    same batches with the configured optimizer; after each epoch yield every network's weights and mean
    training loss."""
    if any(w.width != model.width for w in initials):
        raise ValueError(f"every initial network must have model.width={model.width} hidden units")
    n_rows = len(z)
    x = tf.constant(np.hstack([z, np.ones((n_rows, 1))]), tf.float32)
    targets = tf.constant(y, tf.float32)
    params = _pack(initials)
    update, state = _optimizer(train, params)
    epoch = _epoch_function(n_rows, train.batch_size, len(initials), model.width, _activation(model), update)
    for order in orders:
        params, state, loss = epoch(params, state, x, targets, tf.constant(order, tf.int32))
        yield _unpack(params, model.width), loss.numpy().astype(np.float64)
