"""Names of the layers of the ready-made networks (torchvision's module names)."""

__all__ = ["named"]


def named(layer, name):
    """`layer` with its ``name`` set to `name` (layers with a ``name`` attribute), for
    :meth:`~pyx_cnn.NeuralNetwork.summary` and for finding a layer by its name."""
    if hasattr(layer, "name"):
        layer.name = name
    return layer
