"""The order a network runs its layers in: a chain, each layer reading the one before.

:class:`Chain` is all that :class:`~pyx_cnn.NeuralNetwork` knows about that
order: it checks the layers, builds them for the shapes flowing through, and
makes the :class:`Plan` that runs them forward and backward (the fusion steps
of :mod:`pyx_cnn.fusion`). Training, evaluation, saving and the parameter
arrays only see ``chain.layers`` (in order) and the plan, so a network of
another shape, a graph, is another class with these methods and nothing else:
:class:`pyx_cnn._graph.Graph`.
"""
from . import fusion
from . import layers as _layers

__all__ = ["Chain", "Plan", "loss_takes_logits"]


def loss_takes_logits(loss, final_activation):
    """Whether `loss` applies the network's final activation itself (cross-entropy a
    softmax, binary cross-entropy a sigmoid: ``loss.activation``)."""
    activation = getattr(loss, "activation", None)
    return activation is not None and activation == final_activation


class Chain:
    """Layers run one after the other.

    Parameters
    ----------
    layers : list of Layer
        At least one, each object once.
    """

    def __init__(self, layers):
        layers = list(layers)
        if not layers:
            raise ValueError("layers must hold at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, _layers.Layer):
                raise TypeError(f"layers[{i}] must be a pyx_cnn.layers layer, "
                                f"got {type(layer).__name__}")
        if len({id(layer) for layer in layers}) != len(layers):
            raise ValueError("layers must not hold the same layer object twice")
        self.layers = layers

    def build(self, sample_shape, rng, dtype):
        """Build every layer for the shape flowing into it; returns the output shape.

        A layer without an activation of its own is initialised for the
        activation layer that follows it (``init_for``). The first layer's
        input is the data: its input gradient is never needed
        (``needs_input_grad``).
        """
        shape = sample_shape
        for i, layer in enumerate(self.layers):
            following = self.layers[i + 1] if i + 1 < len(self.layers) else None
            init_for = following.activation if isinstance(
                following, _layers.ActivationLayer) else None
            try:
                shape = layer.build(shape, rng=rng, dtype=dtype, init_for=init_for)
            except ValueError as exc:
                raise ValueError(f"layers[{i}] ({type(layer).__name__}): {exc}") from None
            layer.needs_input_grad = i > 0
        return shape

    @property
    def final_activation(self):
        """The activation the last layer applies (None when it applies none)."""
        return fusion.final_activation(self.layers)

    def plan(self, loss=None, fuse=True):
        """The :class:`Plan` that runs the layers for `loss` (None: no loss, as predict)."""
        return Plan(self.layers, loss, fuse)

    def summary_rows(self, loss=None):
        """One row of strings per layer: name, output shape, parameter count and the
        fusion rule it runs by in the plan for `loss` (None: no loss, as predict)."""
        fused = {i: step.rule for step in self.plan(loss).steps for i in step.layers}
        return [(f"{i}: {type(layer).__name__}", str((None,) + tuple(layer.output_shape)),
                 str(layer.count_params()), fused.get(i, ""))
                for i, layer in enumerate(self.layers)]


class Plan:
    """How a chain runs for one loss: the fusion steps, forward and backward.

    When the loss applies the network's final activation itself (cross-entropy
    a softmax, binary cross-entropy a sigmoid: ``loss.activation``), the fused
    plan leaves that activation to it and hands it the logits; unfused, the
    activation runs and the loss takes its probabilities.

    Attributes
    ----------
    steps : list of pyx_cnn.fusion.Step
    loss : Loss or None
    """

    def __init__(self, layers, loss=None, fuse=True):
        takes_logits = loss_takes_logits(loss, fusion.final_activation(layers))
        self.steps = fusion.plan(layers, fuse, fuse and takes_logits)
        self._set_loss(loss, takes_logits)

    def _set_loss(self, loss, takes_logits):
        """Keep `loss`, and whether the final activation still ran (then the loss takes
        probabilities): the last step did not leave it to the loss."""
        self.loss = loss
        self._probabilities = takes_logits and not self.steps[-1].rule.endswith("_into_loss")

    def forward(self, x, training=False):
        """The network's output for a batch (logits when the loss takes them)."""
        for step in self.steps:
            x = step.forward(x, training)
        return x

    def backward(self, grad):
        """Fill every layer's ``grads`` from ``dL/d(output)``; returns ``dL/d(input)``
        (None when the first layer does not compute it)."""
        for step in reversed(self.steps):
            grad = step.backward(grad)
        return grad

    def loss_value_grad(self, out, y, labels=None):
        """(mean loss, ``dL/d(out)``, correct samples or None) of the output `out`."""
        if self._probabilities:
            return self.loss.value_grad_correct_from_probabilities(out, y, labels)
        return self.loss.value_grad_correct(out, y, labels)
