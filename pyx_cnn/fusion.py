"""How a network runs its layers: a plan of steps, with neighbours fused by named rules.

A plan is a list of :class:`Step`: each runs one layer, or two layers fused by
one of the rules below, and has a ``forward(x, training)`` and a
``backward(grad)``. A layer that runs on its own is run through its public
``forward`` / ``backward`` (:class:`pyx_cnn.layers.Layer`, with
``validate=False``: the network checked the batch once; :func:`on_its_own`),
so a breakpoint there stops in ``fit``, ``predict`` and ``evaluate``. With ``fuse=False`` every layer
runs on its own: the plain path a learner steps through. Both give the same
results (to rounding); the tests check it. ``NeuralNetwork.summary()`` shows
which layers a plan fuses, and by which rule.

Rules (``RULES``), tried in order at each layer, and where to break in each:

``relu_into_max_pool``
    ``ReLU`` (without ``max_value``) followed by ``MaxPool2D`` runs as one
    pooling kernel that takes the maximum of the window and 0: the ReLU output
    never exists, and the
    backward pass is the pooling's, restricted to positive outputs. At
    inference nothing is recorded for a backward pass: the windows' maxima
    (no argmax), then ``max(m, 0)`` on the pooled output. Break in
    :func:`relu_into_max_pool_forward` / :func:`relu_into_max_pool_backward`.
``batch_norm_into_conv``
    At inference (``predict``, ``evaluate``, the validation passes of ``fit``), a
    ``Conv2D`` without activation followed by ``BatchNormalization`` runs as one
    convolution: with ``scale = gamma / sqrt(var + epsilon)`` (the running
    variance), the filters ``W * scale`` (each filter by its channel's scale)
    and the bias ``(b - mean) * scale + beta``, computed in float64 from the
    current parameters and running statistics at every call (never stale), then
    cast to the network's dtype. The normalised output is the convolution's
    output: one pass over the feature map fewer. Training runs both layers' own
    passes (the batch statistics), so its results are unchanged. A ReLU layer
    that follows (a ReLU, ReLU6 or bounded ReLU: ``min(max(v, 0), m)``) joins
    the step: at inference the convolution's kernels apply it to their sums
    as they store them (``clamp_max`` of :func:`pyx_cnn.ops.conv.forward`,
    the ReLU's own values), so the normalised map is never read again for it;
    while training it runs its own pass after the two. Break in
    :func:`batch_norm_into_conv_forward` (which, while training, calls the
    layers' ``forward``) / :func:`batch_norm_into_conv_backward`.
``activation_in_place``
    An activation layer after a ``Conv2D``, ``Conv2DTranspose`` or ``Dense``
    without activation is applied by that layer, in place on its output (one
    array fewer; a ``Conv2D``'s kernels apply a ReLU, ReLU6 or bounded ReLU as
    they store the output: one pass fewer). Break in ``Conv2D._forward`` / ``Dense._forward`` (their
    ``activation`` argument is the activation layer's) and ``Conv2D._backward``
    / ``Dense._backward``.
``activation_into_add``
    In a graph, an activation layer whose only input is an ``Add`` (and that
    ``Add``'s only reader: the end of a residual block, ``relu(h + x)``) is
    applied in place on the sum (one array fewer). Break in
    :func:`activation_into_add_forward` / :func:`activation_into_add_backward`.
``softmax_into_loss`` / ``sigmoid_into_loss``
    With ``logits=True`` (the loss is cross-entropy, which applies the
    softmax itself, or binary cross-entropy, which applies the sigmoid), the
    last layer's softmax or sigmoid is left out: the loss takes the logits
    (finite for any score) and its gradient ``softmax(z) - onehot`` (or
    ``sigmoid(z) - t``) skips the activation's Jacobian. A ``Conv2D`` or
    ``Dense`` with that activation runs ``_forward`` / ``_backward`` with the
    linear activation (break there); a last ``Softmax`` or ``Sigmoid`` layer
    runs nothing (the loss, :mod:`pyx_cnn.losses`, does it).

In a graph network (:mod:`pyx_cnn._graph`) the rules apply inside each straight
run of layer calls: a layer fuses with the next only when that next layer is its
output's only reader and reads nothing else, and neither is called elsewhere (a
layer whose weights several calls share runs on its own); a merge layer (``Add``,
``Concatenate``) runs on its own, or with the activation that follows an ``Add``
(``activation_into_add``). The final activation is left to the loss when the
output's layer applies it.

A rule replaces the passes of the layers it fuses, so it applies only to layers
that run their built-in class's passes (:func:`runs_built_in_passes`): an
instance of a subclass that overrides ``forward``, ``backward``, ``_forward``
or ``_backward`` (say ``class MyTanh(layers.Tanh)`` with a ``forward`` of its
own) runs on its own, so that its code runs.
"""
import inspect
from functools import lru_cache, partial
from typing import Callable, NamedTuple

import numpy as np

from ._kept_weights import kept_for, prepared
from .layers import (ActivationLayer, Add, BatchNormalization, Conv2D, Conv2DTranspose, Dense,
                     MaxPool2D, ReLU)
from .ops import add as add_op
from .ops import conv as conv_op
from .ops import max_pool
from .ops.activations import clamp_bound, get_activation

__all__ = ["Step", "RULES", "plan", "final_activation", "ends_in_softmax",
           "fold_batch_norm", "on_its_own", "runs_built_in_passes",
           "relu_into_max_pool_forward",
           "relu_into_max_pool_backward", "batch_norm_into_conv_forward",
           "activation_into_add_forward", "activation_into_add_backward",
           "batch_norm_into_conv_backward"]

RULES = ("relu_into_max_pool", "batch_norm_into_conv", "activation_in_place",
         "activation_into_add",
         "softmax_into_loss", "sigmoid_into_loss")
#: the final activations a loss can take over (the loss applies them itself)
LOSS_ACTIVATIONS = ("softmax", "sigmoid")


class Step(NamedTuple):
    rule: str            # the fusion rule ("" for a layer on its own)
    layers: tuple        # indices of the layers the step runs
    forward: Callable    # forward(x, training) -> output
    backward: Callable   # backward(grad of output) -> grad of input


def final_activation(layers):
    """The activation the last layer applies (None when it applies none)."""
    return getattr(layers[-1], "activation", None)


def ends_in_softmax(layers):
    """True when the last layer's output is a softmax."""
    return final_activation(layers) == "softmax"


def _identity_forward(x, training=False):
    return x


def _identity_backward(grad):
    return grad


def fold_batch_norm(conv, batch_norm):
    """The filters and bias of one convolution equal to `conv` then `batch_norm` at inference.

    Parameters
    ----------
    conv : Conv2D
        Without activation (the normalisation acts on its raw output).
    batch_norm : BatchNormalization
        Built for `conv`'s output (one channel per filter).

    Returns
    -------
    weights : ndarray, shape (F, kh, kw, C)
        ``W * scale`` with ``scale = gamma / sqrt(var + epsilon)`` per filter.
    bias : ndarray, shape (F,)
        ``(b - mean) * scale + beta`` (``b`` zeros for a Conv2D without bias).

    Both are computed in float64 from the current parameters and running
    statistics, and returned in `conv`'s dtype.
    """
    gamma = batch_norm.params["gamma"].astype(np.float64)
    beta = batch_norm.params["beta"].astype(np.float64)
    mean = batch_norm.state["mean"].astype(np.float64)
    var = batch_norm.state["var"].astype(np.float64)
    scale = gamma / np.sqrt(var + batch_norm.epsilon)
    weights = conv.params["W"].astype(np.float64) * scale[:, np.newaxis, np.newaxis, np.newaxis]
    conv_bias = (conv.params["b"].astype(np.float64) if conv.use_bias
                 else np.zeros(conv.filters))
    bias = (conv_bias - mean) * scale + beta
    return weights.astype(conv.dtype), bias.astype(conv.dtype)


def relu_into_max_pool_forward(pool, x, training=False):
    """Rule ``relu_into_max_pool``: ReLU then `pool` (a MaxPool2D) as one pooling
    pass, the maximum of each window and 0 (the ReLU layer itself does nothing).
    At inference nothing is recorded for a backward pass: the windows' maxima, then
    ``max(m, 0)`` on the pooled output (the same values: NaN stays NaN, ``-0.0``
    becomes ``0.0``)."""
    if training:
        pool._out, pool._saved = max_pool.forward(x, pool.size, pool.stride, pool.pads,
                                                  pool.ceil_mode, relu=True)
        return pool._out
    # a backward pass needs training=True (as batch_norm_into_conv leaves it)
    pool._out = max_pool.forward_infer(x, pool.size, pool.stride, pool.pads,
                                       pool.ceil_mode, relu=True)
    pool._saved = None
    return pool._out


def relu_into_max_pool_backward(pool, grad):
    """Rule ``relu_into_max_pool``: the pooling's backward pass, which sends each
    gradient to its window's maximum only where that maximum was positive."""
    if pool._saved is None:
        raise RuntimeError("the backward pass of relu_into_max_pool needs a forward pass "
                           "with training=True (the windows' maxima)")
    return max_pool.backward(grad, pool._saved)


def batch_norm_into_conv_forward(conv, batch_norm, x, training=False, relu=None):
    """Rule ``batch_norm_into_conv``: one folded convolution at inference
    (:func:`fold_batch_norm`), which also applies the ReLU layer `relu` (or None)
    as it stores its output; the layers' own passes while training."""
    if training:
        z = conv.forward(x, True, validate=False)
        z = batch_norm.forward(z, True, validate=False)
        return z if relu is None else relu.forward(z, True, validate=False)
    # folded (and laid out for the kernels) once, again when the weights change
    # (_kept_weights); kept by the batch normalisation (the convolution's own dict
    # holds its own filters)
    kept = kept_for(batch_norm, (conv.params["W"], conv.params.get("b"),
                                 batch_norm.params["gamma"], batch_norm.params["beta"],
                                 batch_norm.state["mean"], batch_norm.state["var"],
                                 batch_norm.epsilon))
    weights, bias = prepared(kept, "folded", fold_batch_norm, conv, batch_norm)
    bound = None if relu is None else clamp_bound(relu._op)
    out, _ = conv_op.forward(x, weights, bias, *conv._geometry, training=False,
                             clamp_max=bound, kept=kept)
    # as the layers' own inference passes leave them: a backward pass needs training=True
    batch_norm._out, batch_norm._saved = out, None
    if relu is not None:
        relu._out, relu._saved = out, out
    return out


def batch_norm_into_conv_backward(conv, batch_norm, grad, relu=None):
    """Rule ``batch_norm_into_conv``: the layers' own backward passes (training
    never folds)."""
    if relu is not None:
        grad = relu.backward(grad, validate=False)
    return conv.backward(batch_norm.backward(grad, validate=False), validate=False)


def activation_into_add_forward(add_layer, activation, xs, training=False):
    """Rule ``activation_into_add``: the sum of `xs` (`add_layer`'s op), then `activation`
    (a registry entry) in place on it (the activation layer itself does nothing)."""
    total, add_layer._saved = add_op.forward(xs)
    add_layer._out, add_layer._act_saved = activation.forward(total, out=total)
    return add_layer._out


def activation_into_add_backward(add_layer, activation, grad):
    """Rule ``activation_into_add``: the activation's backward pass, then the sum's (the
    gradient for every input)."""
    return add_op.backward(activation.backward(grad, add_layer._act_saved), add_layer._saved)


def on_its_own(layer):
    """The step functions of a layer that runs on its own: its public ``forward``
    and ``backward``, unchecked (``validate=False``: the network checked the batch).

    A layer class that overrides ``forward`` or ``backward`` with the plain
    signatures ``forward(x, training=False)`` / ``backward(grad_out)`` (as a user
    writing a layer may) is called with exactly those arguments.
    """
    forward, backward = layer.forward, layer.backward

    if _takes_validate(type(layer).forward):
        def step_forward(x, training=False):
            return forward(x, training, validate=False)
    else:
        step_forward = forward

    if _takes_validate(type(layer).backward):
        def step_backward(grad):
            return backward(grad, validate=False)
    else:
        step_backward = backward

    return step_forward, step_backward


@lru_cache(maxsize=256)
def _takes_validate(method):
    """Whether a layer method accepts the ``validate`` keyword (the base class's does);
    remembered per method (reading a signature takes tens of microseconds, and every
    ``fit`` call plans its steps)."""
    try:
        return "validate" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


#: the passes a rule replaces
_PASSES = ("forward", "backward", "_forward", "_backward")


def runs_built_in_passes(layer, cls):
    """Whether `layer` is a `cls` that runs `cls`'s passes: an instance of `cls`, or
    of a subclass that overrides none of ``forward``, ``backward``, ``_forward``
    and ``_backward``. Only such layers are fused (a rule skips the passes)."""
    kind = type(layer)
    # a `cls` itself runs `cls`'s passes, whatever was patched onto the class
    return kind is cls or (isinstance(layer, cls) and all(
        getattr(kind, name) is getattr(cls, name) for name in _PASSES))


def _relu_then_max_pool(layer, nxt):
    """Whether rule ``relu_into_max_pool`` fuses `layer` and `nxt`."""
    return (runs_built_in_passes(layer, ReLU) and layer.activation == "relu"   # no bound
            and runs_built_in_passes(nxt, MaxPool2D))


def _conv_or_dense(layer):
    """Whether `layer` is a Conv2D, a Conv2DTranspose or a Dense running that class's
    passes (each applies an activation given to its ``_forward``)."""
    return any(runs_built_in_passes(layer, cls) for cls in (Conv2D, Conv2DTranspose, Dense))


def plan(layers, fuse=True, logits=False):
    """The steps that run `layers` (see the module docstring).

    Parameters
    ----------
    layers : list of Layer
    fuse : bool
        Apply the rules; False runs every layer on its own.
    logits : bool
        Leave the last layer's softmax or sigmoid to the loss (rules
        ``softmax_into_loss``, ``sigmoid_into_loss``; needs `fuse`).

    Returns
    -------
    steps : list of Step
    """
    steps = []
    i, n = 0, len(layers)
    while i < n:
        layer = layers[i]
        nxt = layers[i + 1] if i + 1 < n else None
        after = layers[i + 2] if i + 2 < n else None
        if fuse and _relu_then_max_pool(layer, nxt):
            steps.append(Step("relu_into_max_pool", (i, i + 1),
                              partial(relu_into_max_pool_forward, nxt),
                              partial(relu_into_max_pool_backward, nxt)))
            i += 2
            continue
        if (fuse and runs_built_in_passes(layer, Conv2D) and layer.activation is None
                and runs_built_in_passes(nxt, BatchNormalization)):
            # every ReLU layer (any bound) clamps: the kernels apply it
            relu = (after if runs_built_in_passes(after, ReLU) and not _relu_then_max_pool(
                after, layers[i + 3] if i + 3 < n else None) else None)
            taken = (i, i + 1) if relu is None else (i, i + 1, i + 2)
            steps.append(Step("batch_norm_into_conv", taken,
                              partial(batch_norm_into_conv_forward, layer, nxt, relu=relu),
                              partial(batch_norm_into_conv_backward, layer, nxt, relu=relu)))
            i += len(taken)
            continue
        if (fuse and _conv_or_dense(layer) and layer.activation is None
                and runs_built_in_passes(nxt, ActivationLayer) and nxt.activation is not None
                and not _relu_then_max_pool(nxt, after)):
            activation, rule = nxt.activation, "activation_in_place"
            if logits and i + 2 == n and activation in LOSS_ACTIVATIONS:
                activation, rule = "linear", f"activation_in_place+{activation}_into_loss"
            steps.append(Step(rule, (i, i + 1),
                              partial(layer._forward, activation=get_activation(activation)),
                              layer._backward))
            i += 2
            continue
        if (fuse and runs_built_in_passes(layer, Add) and runs_built_in_passes(
                nxt, ActivationLayer) and nxt.activation is not None
                and not (logits and i + 2 == n and nxt.activation in LOSS_ACTIVATIONS)
                and not _relu_then_max_pool(nxt, after)):
            activation = get_activation(nxt.activation)
            steps.append(Step("activation_into_add", (i, i + 1),
                              partial(activation_into_add_forward, layer, activation),
                              partial(activation_into_add_backward, layer, activation)))
            i += 2
            continue
        activation = getattr(layer, "activation", None)
        if (logits and i + 1 == n and activation in LOSS_ACTIVATIONS
                and (runs_built_in_passes(layer, ActivationLayer) or _conv_or_dense(layer))):
            rule = f"{activation}_into_loss"
            if isinstance(layer, ActivationLayer):
                steps.append(Step(rule, (i,), _identity_forward, _identity_backward))
            else:
                steps.append(Step(rule, (i,),
                                  partial(layer._forward, activation=get_activation("linear")),
                                  layer._backward))
        else:
            steps.append(Step("", (i,), *on_its_own(layer)))
        i += 1
    return steps
