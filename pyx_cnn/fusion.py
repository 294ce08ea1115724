"""How a network runs its layers: a plan of steps, with neighbours fused by named rules.

A plan is a list of :class:`Step`: each runs one layer, or two layers fused by
one of the rules below, and has a ``forward(x, training)`` and a
``backward(grad)``. With ``fuse=False`` every layer is a step of its own
(``layer._forward`` / ``layer._backward``): the plain path a learner steps
through. Both give the same results (to rounding); the tests check it.

Rules (``RULES``), tried in order at each layer:

``relu_into_max_pool``
    ``ReLU`` followed by ``MaxPool2D`` runs as one pooling kernel that takes
    the maximum of the window and 0: the ReLU output never exists, and the
    backward pass is the pooling's, restricted to positive outputs.
``activation_in_place``
    An activation layer after a ``Conv2D`` or ``Dense`` without activation is
    applied by that layer, in place on its output (one array fewer).
``softmax_into_loss`` / ``sigmoid_into_loss``
    With ``logits=True`` (the loss is cross-entropy, which applies the
    softmax itself, or binary cross-entropy, which applies the sigmoid), the
    last layer's softmax or sigmoid is left out: the loss takes the logits
    (finite for any score) and its gradient ``softmax(z) - onehot`` (or
    ``sigmoid(z) - t``) skips the activation's Jacobian.
"""
from functools import partial
from typing import Callable, NamedTuple

from .layers import ActivationLayer, Conv2D, Dense, MaxPool2D, ReLU

__all__ = ["Step", "RULES", "plan", "final_activation", "ends_in_softmax"]

RULES = ("relu_into_max_pool", "activation_in_place", "softmax_into_loss",
         "sigmoid_into_loss")
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
        if fuse and isinstance(layer, ReLU) and isinstance(nxt, MaxPool2D):
            steps.append(Step("relu_into_max_pool", (i, i + 1),
                              partial(nxt._forward, relu=True), nxt._backward))
            i += 2
            continue
        if (fuse and isinstance(layer, (Conv2D, Dense)) and layer.activation is None
                and isinstance(nxt, ActivationLayer) and nxt.activation is not None
                and not (isinstance(nxt, ReLU) and isinstance(after, MaxPool2D))):
            activation, rule = nxt.activation, "activation_in_place"
            if logits and i + 2 == n and activation in LOSS_ACTIVATIONS:
                activation, rule = "linear", f"activation_in_place+{activation}_into_loss"
            steps.append(Step(rule, (i, i + 1), partial(layer._forward, activation=activation),
                              layer._backward))
            i += 2
            continue
        activation = getattr(layer, "activation", None)
        if logits and i + 1 == n and activation in LOSS_ACTIVATIONS:
            rule = f"{activation}_into_loss"
            if isinstance(layer, ActivationLayer):
                steps.append(Step(rule, (i,), _identity_forward, _identity_backward))
            else:
                steps.append(Step(rule, (i,), partial(layer._forward, activation="linear"),
                                  layer._backward))
        else:
            steps.append(Step("", (i,), layer._forward, layer._backward))
        i += 1
    return steps
