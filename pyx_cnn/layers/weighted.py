"""What the layers with weights and an ``activation=`` argument (``Conv2D``,
``Dense``) share."""
from ..ops.activations import get_activation

__all__ = ["OWN", "canonical_activation"]

#: ``_forward(x, activation=OWN)``: apply the layer's own activation (a network
#: may pass another: a following activation layer folded in, or "linear" to
#: leave a final softmax to a fused loss)
OWN = object()


def canonical_activation(name):
    """The stored form of an ``activation=`` argument: None for no activation
    (None or ``"linear"``), else the registry's lower-case name."""
    name = get_activation(name).name
    return None if name == "linear" else name
