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
batch included, in float32 (the compiled engine in float64 too, with `train.dtype`).

Replicates (`replicate_orders`) each take their own row order: the compiled engine then gathers every
network's batch at every step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import keras
import numpy as np
import tensorflow as tf

from pipeline.config import Activation, ModelConfig, Optimizer, TrainConfig
from pipeline.core.network import network_weights
from pipeline.core.weights import NetworkWeights, WeightStack, off_slope

EpochResult = tuple[WeightStack, np.ndarray]  # every network's weights and mean training loss

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


ORDER_THREADS = 2  # NumPy's shuffle releases the GIL: two threads draw replicates' orders while the graph runs


def replicate_orders(n_rows: int, epochs: int, seeds: Sequence[int]) -> Iterator[np.ndarray]:
    """Every epoch, one row order per seed (K, rows), int32: row k is exactly `batch_orders(n_rows, epochs,
    seeds[k])`'s, so replicate k takes the batches of a run at that seed. A permutation of 100k rows costs
    ~1.5 ms, more than a network's epoch in the graph, so the next epoch's are drawn in threads (each
    filling its own rows) while this one trains."""
    streams = [batch_orders(n_rows, epochs, seed) for seed in seeds]

    def draw(orders: np.ndarray, first: int) -> None:
        for k in range(first, len(streams), ORDER_THREADS):
            orders[k] = next(streams[k])

    def epoch_orders(pool: ThreadPoolExecutor) -> tuple[np.ndarray, list[Future[None]]]:
        orders = np.empty((len(streams), n_rows), dtype=np.int32)
        return orders, [pool.submit(draw, orders, first) for first in range(ORDER_THREADS)]

    with ThreadPoolExecutor(ORDER_THREADS) as pool:
        pending = epoch_orders(pool) if epochs else None
        for epoch in range(epochs):
            assert pending is not None
            orders, drawing = pending
            for part in drawing:
                part.result()
            pending = epoch_orders(pool) if epoch + 1 < epochs else None
            yield orders


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
        yield WeightStack.of([network_weights(network)]), np.array(history.history["loss"], dtype=np.float64)


def _activation(model: ModelConfig, dtype: tf.DType) -> Activate:
    """The activation and its derivative as Keras differentiates it: 1 above zero, the off slope at and below."""
    if model.activation is Activation.relu:
        return lambda hidden: (tf.nn.relu(hidden), tf.cast(hidden > 0, dtype))
    slope, one = tf.constant(off_slope(model), dtype), tf.constant(1.0, dtype)
    return lambda hidden: (tf.where(hidden > 0, hidden, slope * hidden), tf.where(hidden > 0, one, slope))


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
    grad_out = 2.0 * residual / tf.cast(tf.shape(xb)[0], residual.dtype)  # d loss / d prediction
    grad_units = tf.repeat(grad_out, width, axis=1)  # each network's, for every one of its units
    grad_theta = tf.matmul(grad_units * w2 * derivative, xb, transpose_a=True)  # (K*H, d+1)
    grad_w2 = tf.reduce_sum(grad_units * activated, axis=0)
    grad_b2 = tf.reduce_sum(grad_out, axis=0)
    loss = tf.reduce_mean(residual * residual, axis=0)
    return (grad_theta, grad_w2, grad_b2), loss


ELEMENTWISE_MAX_WIDTH = 4  # narrower networks on their own batches: elementwise products beat batched matmuls


def _gradients_per_network(
    params: Params, xb: tf.Tensor, yb: tf.Tensor, activate: Activate, width: int
) -> tuple[Params, tf.Tensor]:
    """`_gradients` when every network has its own batch: xb (K, batch, d+1), yb (K, batch).

    XLA on CPU runs K tiny matmuls (batch x (d+1) by (d+1) x width) as a loop of kernels; as broadcast
    products and sums they fuse into a few vectorised loops, 1.5x faster at width 1 for 31 networks (33 vs
    50 ms an epoch, 2026-11-30); wider, the products grow with the width and the matmuls win."""
    theta, w2, b2 = params
    networks = b2.shape[0]
    thetas = tf.reshape(theta, [networks, width, -1])  # (K, H, d+1)
    w2s = tf.reshape(w2, [networks, 1, width])
    elementwise = width <= ELEMENTWISE_MAX_WIDTH
    if elementwise:
        hidden = tf.reduce_sum(xb[:, :, None, :] * thetas[:, None, :, :], axis=3)  # (K, batch, H)
    else:
        hidden = tf.matmul(xb, thetas, transpose_b=True)
    activated, derivative = activate(hidden)
    residual = tf.reduce_sum(w2s * activated, axis=2) + b2[:, None] - yb  # (K, batch)
    grad_out = 2.0 * residual / tf.cast(tf.shape(xb)[1], residual.dtype)
    grad_hidden = grad_out[:, :, None] * w2s * derivative  # (K, batch, H)
    if elementwise:
        grad_thetas = tf.reduce_sum(grad_hidden[:, :, :, None] * xb[:, :, None, :], axis=1)  # (K, H, d+1)
    else:
        grad_thetas = tf.matmul(grad_hidden, xb, transpose_a=True)
    grad_w2 = tf.reshape(tf.reduce_sum(grad_out[:, :, None] * activated, axis=1), [-1])
    grad_b2 = tf.reduce_sum(grad_out, axis=1)
    loss = tf.reduce_mean(residual * residual, axis=1)
    return (tf.reshape(grad_thetas, tf.shape(theta)), grad_w2, grad_b2), loss


def _sgd(lr: tf.Tensor) -> Update:
    """Keras's plain SGD, the post's: the variable -= lr*g."""

    def update(params: Params, grads: Params, state: State) -> tuple[Params, State]:
        return tuple(p - lr * g for p, g in zip(params, grads, strict=True)), state

    return update


def _momentum(lr: tf.Tensor, momentum: float) -> Update:
    """Keras's SGD with (non-Nesterov) momentum: m = momentum*m - lr*g, then the variable += m."""
    momentum = tf.constant(momentum, lr.dtype)

    def update(params: Params, grads: Params, velocities: State) -> tuple[Params, State]:
        velocities = tuple(m * momentum - g * lr for m, g in zip(velocities, grads, strict=True))
        return tuple(p + m for p, m in zip(params, velocities, strict=True)), velocities

    return update


def _adam(lr: tf.Tensor) -> Update:
    """Keras's Adam: bias correction folded into the step size, epsilon added outside the square root."""
    dtype = lr.dtype
    beta_1, beta_2 = tf.constant(ADAM_BETA_1, dtype), tf.constant(ADAM_BETA_2, dtype)
    one_minus_beta_1, one_minus_beta_2 = tf.constant(1 - ADAM_BETA_1, dtype), tf.constant(1 - ADAM_BETA_2, dtype)
    epsilon = tf.constant(ADAM_EPSILON, dtype)

    def update(params: Params, grads: Params, state: State) -> tuple[Params, State]:
        steps, ms, vs = state
        steps += 1  # Keras's optimizer.iterations + 1: the first step is 1, counted across epochs
        step = tf.cast(steps, dtype)
        alpha = lr * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))
        ms = tuple(m + (g - m) * one_minus_beta_1 for m, g in zip(ms, grads, strict=True))
        vs = tuple(v + (g * g - v) * one_minus_beta_2 for v, g in zip(vs, grads, strict=True))
        params = tuple(p - m * alpha / (tf.sqrt(v) + epsilon) for p, m, v in zip(params, ms, vs, strict=True))
        return params, (steps, ms, vs)

    return update


def _optimizer(train: TrainConfig, params: Params) -> tuple[Update, State]:
    """The configured optimizer's update and its state before the first step."""
    lr = tf.constant(train.lr, params[0].dtype)
    if train.optimizer is Optimizer.momentum:
        return _momentum(lr, train.momentum), tuple(tf.zeros_like(p) for p in params)
    if train.optimizer is Optimizer.adam:
        zeros = tuple(tf.zeros_like(p) for p in params)
        return _adam(lr), (tf.constant(0, tf.int64), zeros, zeros)
    return _sgd(lr), ()


def _epoch_function(n_rows: int, batch_size: int, networks: int, width: int, activate: Activate, update: Update):
    """One epoch of every network as one XLA graph, all on the batches of one row order (n_rows,)."""
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

        loss_sum = tf.zeros([networks], x.dtype)
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


def _own_orders_epoch_function(n_rows: int, batch_size: int, networks: int, width: int, activate: Activate, update: Update):
    """`_epoch_function` when network k takes its batches in its own order, row k of a (K, n_rows) order.

    Each step gathers its K batches: one gather of the whole epoch per network writes K copies of the data,
    beyond the caches (31 networks of 100k rows: 23 ms a gather, then 22 ms of steps reading them back,
    against 33 ms for both per step)."""
    full_batches, rest = divmod(n_rows, batch_size)

    def step(params: Params, state: State, x: tf.Tensor, y: tf.Tensor, rows: tf.Tensor) -> tuple[Params, State, tf.Tensor]:
        grads, loss = _gradients_per_network(params, tf.gather(x, rows), tf.gather(y, rows), activate, width)
        return *update(params, grads, state), loss

    @tf.function(jit_compile=True)
    def epoch(params, state, x, y, order):
        def body(i, params, state, loss_sum):
            params, state, loss = step(params, state, x, y, tf.slice(order, [0, i * batch_size], [networks, batch_size]))
            return i + 1, params, state, loss_sum + loss * batch_size

        loss_sum = tf.zeros([networks], x.dtype)
        if full_batches:
            _, params, state, loss_sum = tf.while_loop(
                lambda i, *_: i < full_batches, body, (tf.constant(0), params, state, loss_sum)
            )
        if rest:
            params, state, loss = step(params, state, x, y, order[:, full_batches * batch_size :])
            loss_sum += loss * rest
        return params, state, loss_sum / n_rows

    return epoch


def _pack(initials: Sequence[NetworkWeights], dtype: tf.DType) -> Params:
    theta = np.concatenate([np.hstack([w.W1.T, np.reshape(w.b1, (-1, 1))]) for w in initials])
    w2 = np.concatenate([w.w2 for w in initials])
    return (
        tf.constant(theta, dtype),
        tf.constant(w2, dtype),
        tf.constant([w.b2 for w in initials], dtype),
    )


def _unpack(params: Params, width: int) -> WeightStack:
    theta, w2, b2 = (p.numpy().astype(np.float64) for p in params)
    thetas = theta.reshape(len(b2), width, -1)
    return WeightStack(W1=thetas[:, :, :-1].transpose(0, 2, 1), b1=thetas[:, :, -1], w2=w2.reshape(len(b2), width), b2=b2)


class _Networks:
    """Some of the networks and their optimizer state, stepped one epoch at a time by one compiled graph.
    `rows`: which rows of a (K, rows) order are theirs (None: they all take the one shared order); a single
    network on its own order takes the shared graph, exactly as a run of its seed."""

    def __init__(
        self, initials: Sequence[NetworkWeights], rows: slice | None, n_rows: int, model: ModelConfig, train: TrainConfig
    ):
        self.rows = rows
        self.own_orders = rows is not None and len(initials) > 1
        dtype = tf.as_dtype(train.dtype.value)
        self.params = _pack(initials, dtype)
        update, self.state = _optimizer(train, self.params)
        build = _own_orders_epoch_function if self.own_orders else _epoch_function
        self.epoch = build(n_rows, train.batch_size, len(initials), model.width, _activation(model, dtype), update)

    def step_epoch(self, x: tf.Tensor, y: tf.Tensor, order: np.ndarray) -> tf.Tensor:
        mine = order if self.rows is None else order[self.rows]
        if mine.ndim == 2 and not self.own_orders:
            mine = mine[0]
        self.params, self.state, loss = self.epoch(self.params, self.state, x, y, tf.constant(mine, tf.int32))
        return loss


def compiled_epochs(
    initials: Sequence[NetworkWeights],
    z: np.ndarray,
    y: np.ndarray,
    orders: Iterator[np.ndarray],
    *,
    model: ModelConfig,
    train: TrainConfig,
) -> Iterator[EpochResult]:
    """The compiled engine: one network of `model`'s width and activation per initial weight set, in
    `train.dtype`, with the configured optimizer; all on the same batches when each epoch's order is one row
    order, each on its own when it is one per network (K, rows). After each epoch yield every network's
    weights and mean training loss.

    On their own orders the first network trains in a graph of its own, the one a single run uses: XLA
    vectorises a graph of K networks differently (float32 rounding apart, ~1e-8 an epoch), and the run's own
    network must be exactly the run without replicates. The others share one graph."""
    if any(w.width != model.width for w in initials):
        raise ValueError(f"every initial network must have model.width={model.width} hidden units")
    dtype = tf.as_dtype(train.dtype.value)
    n_rows = len(z)
    x = tf.constant(np.hstack([z, np.ones((n_rows, 1))]), dtype)
    targets = tf.constant(y, dtype)
    groups: list[_Networks] = []
    for order in orders:
        if not groups and order.ndim == 1:
            groups = [_Networks(initials, None, n_rows, model, train)]
        elif not groups:
            if len(order) != len(initials):
                raise ValueError(f"{len(order)} row orders for {len(initials)} networks: one per network, or one for all")
            groups = [_Networks(initials[:1], slice(0, 1), n_rows, model, train)]
            if len(initials) > 1:
                groups.append(_Networks(initials[1:], slice(1, None), n_rows, model, train))
        losses = [group.step_epoch(x, targets, order) for group in groups]
        stacks = [_unpack(group.params, model.width) for group in groups]
        yield WeightStack.concat(stacks), np.concatenate([loss.numpy() for loss in losses]).astype(np.float64)
