"""``NeuralNetwork``: layers trained by mini-batch gradient descent, as a stack or a graph.

    from pyx_cnn import NeuralNetwork, layers
    net = NeuralNetwork([
        layers.Conv2D(8, 3), layers.ReLU(), layers.MaxPool2D(2, 2),
        layers.Flatten(), layers.Dense(10, activation="softmax"),
    ], input_shape=(8, 8, 1), seed=0)
    history = net.fit(X, y, epochs=10, batch_size=32, learning_rate=0.1)

    x = layers.Input((8, 8, 1))                       # a graph: Keras's functional API
    h = layers.ReLU()(layers.Conv2D(8, 3, padding=1)(x))
    h = layers.Add()([layers.Conv2D(8, 3, padding=1)(h), h])
    s = layers.Dense(10, activation="softmax")(layers.GlobalAvgPool2D()(h))
    net = NeuralNetwork(inputs=x, outputs=s, seed=0)

The network holds its layers and hands the work to its parts: the order the
layers run in to a ``Chain`` (``_chain.py``) or a ``Graph`` (``_graph.py``):
building, the fusion plan, forward and backward; the parameters to one flat
array (``_parameters.py``: ``get_weights``, ``flat_params``...); ``predict`` and
``evaluate`` to ``_inference.py``; ``fit`` and ``gradient_descent`` to
:mod:`pyx_cnn.training_loop`; the model file to
:mod:`pyx_cnn.serialization`; the summary's table to ``_summary.py``; and a
dask array to :mod:`pyx_cnn.dask_arrays` (``_dispatch.py``). Each method is a
line or two that calls its part; the docstring it shows is the one written beside
that part's code (``_doc_from``).
"""
import numpy as np

from . import _inference, serialization, training_loop
from .layers.base import check_dtype
from .layers.input import SymbolicTensor
from .losses import get_loss
from .optim import get_optimizer
from .training_loop import History
from ._batches import check_input_shape, prepare_x, prepare_y, sample_shape
from ._block_cache import reuses_large_blocks
from ._chain import Chain
from ._dispatch import dispatch
from ._fit_arguments import PREVIOUS
from ._graph import Graph
from ._parameters import FlatParameters
from ._summary import summary_table
from ._thread_policy import holds_blas_to_one_thread

__all__ = ["NeuralNetwork", "History"]


def _doc_from(function):
    """Decorator: the method takes the docstring of `function`, the function of the
    network it hands its work to (where the docstring sits beside the code)."""
    def take(method):
        method.__doc__ = function.__doc__
        return method
    return take


def _layer_order(layers, input_shape, inputs, outputs):
    """The :class:`Chain` of `layers`, or the :class:`Graph` from `inputs` to `outputs`,
    and the input shape as given."""
    if inputs is None and outputs is None:
        if isinstance(layers, SymbolicTensor):
            raise TypeError("a graph network is built as NeuralNetwork(inputs=x, outputs=y) "
                            "(keywords), got a SymbolicTensor as layers")
        if layers is None:
            raise TypeError("NeuralNetwork takes a list of layers and input_shape, or "
                            "inputs= and outputs= (symbolic tensors)")
        chain = Chain(layers)
        return chain, check_input_shape(input_shape)
    if inputs is None or outputs is None:
        raise TypeError("a graph network needs both inputs= and outputs=, got "
                        f"{'outputs' if inputs is None else 'inputs'} alone")
    if layers is not None or input_shape is not None:
        raise TypeError("NeuralNetwork takes either layers and input_shape (a chain) or "
                        "inputs and outputs (a graph), not both")
    graph = Graph(inputs, outputs)
    return graph, graph.input_shape


class NeuralNetwork:
    """A network of :mod:`pyx_cnn.layers`: a stack (a list of layers) or a graph.

    Parameters
    ----------
    layers : list of Layer, optional
        Applied in order (a chain). Each is built here for the shapes flowing through.
    input_shape : tuple of int, optional
        With `layers`: one sample's shape, ``(H, W)`` or ``(H, W, C)`` for images
        (``(H, W)`` meaning one channel), or ``(features,)`` for a network of
        Dense layers.
    seed : int, optional
        Seeds the initial weights and the shuffling in :meth:`fit`.
    dtype : {"float64", "float32"}, optional
        Dtype of the parameters and of the computation.
    loss : {None, "cross_entropy", "binary_cross_entropy", "mse"} or Loss, optional
        None picks by target: integer labels train with softmax
        cross-entropy (over the last axis, the class axis), 0/1 labels of a
        one-output network (``Dense(1, activation="sigmoid")``) with binary
        cross-entropy, float targets with mean squared error. A
        :class:`pyx_cnn.losses.Loss` instance (a loss of your own) is used as it is.
    optimizer : {"sgd", "momentum", "rmsprop", "adam", "adamw"} or optimiser instance, optional
        An instance of :mod:`pyx_cnn.optim` (``SGD(momentum=0.9, nesterov=True)``,
        ``AdamW(weight_decay=0.05)``, ...) or a name for its defaults.
    inputs, outputs : SymbolicTensor, optional, keyword-only
        A graph instead of `layers` and `input_shape`: `inputs` from
        :func:`pyx_cnn.layers.Input`, `outputs` computed from it by calling
        layers (one input, one output, any directed acyclic graph between them;
        see :mod:`pyx_cnn.layers.input`). The network's input shape is the
        Input's. A tensor read by several layers receives the sum of their
        gradients; a layer called several times shares its weights (their
        gradients summed). Every layer is built again here, from `seed`.

    Raises
    ------
    TypeError, ValueError
        For a bad argument; for a graph, naming the layer: an output that does not
        depend on `inputs`, a second Input, a layer called on shapes it cannot take.

    Notes
    -----
    Names (``loss``, ``optimizer``, a layer's ``activation``) are
    case-insensitive and stored in lower case, so ``"Adam"`` is ``"adam"`` and
    :meth:`save` writes the canonical name.

    The methods hand the work to the modules named in :mod:`pyx_cnn.network`'s
    docstring.

    Attributes
    ----------
    layers : list of Layer
        In order; for a graph, each layer once, in a topological order.
    input_shape : tuple of int
    output_shape : tuple of int
        One sample's output shape.
    epochs_done : int
        Epochs trained so far, over every :meth:`fit` call (saved with the model).
    stop_training : bool
        A callback sets it to end :meth:`fit` after the current epoch.
    """

    def __init__(self, layers=None, input_shape=None, seed=None, dtype="float64", loss=None,
                 optimizer="sgd", *, inputs=None, outputs=None):
        self._chain, self.input_shape = _layer_order(layers, input_shape, inputs, outputs)
        self.layers = self._chain.layers
        self.dtype = check_dtype(dtype)
        self.loss = None if loss is None else get_loss(loss)
        self.optimizer = get_optimizer(optimizer)
        self.seed = seed
        try:
            init_seq, shuffle_seq = np.random.SeedSequence(seed).spawn(2)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"seed must be None, an int >= 0 or a sequence of them, got "
                            f"{type(seed).__name__} {seed!r}") from None
        self.output_shape = self._chain.build(sample_shape(self.input_shape),
                                              np.random.default_rng(init_seq), self.dtype)
        self._params = FlatParameters(self.layers, self.dtype)
        self.shuffle_rng = np.random.default_rng(shuffle_seq)
        self.epochs_done = 0
        self._learning_rate = None   # the rate or schedule of the last fit (saved)
        self.stop_training = False

    @property
    def optimizer(self):
        """The :mod:`pyx_cnn.optim` optimiser :meth:`fit` steps with (it keeps its state).
        Assigning a name or an instance sets it as the ``optimizer`` argument does;
        anything else raises a ValueError and leaves the optimiser as it was."""
        return self._optimizer

    @optimizer.setter
    def optimizer(self, optimizer):
        self._optimizer = get_optimizer(optimizer)

    @property
    def is_graph(self):
        """True for a network built from ``inputs`` and ``outputs`` (a graph)."""
        return isinstance(self._chain, Graph)

    def _prepare_x(self, X, name="X"):
        return prepare_x(X, self.input_shape, self.dtype, name)

    def _prepare_y(self, y, n, name="y"):
        return prepare_y(y, n, self.output_shape, self.dtype, name)

    # ------------------------------------------------------------ parameters
    @property
    def flat_params(self):
        """Every parameter in one 1-D array, of which each ``layer.params[key]`` is a view,
        in the order of :meth:`get_weights` (no state arrays); writing to it changes
        the weights. An array assigned to ``layer.params[key]`` is copied in first.
        The buffer data-parallel training broadcasts (:mod:`pyx_cnn.mpi`)."""
        self._check_bound()
        return self._params.values

    @property
    def flat_grads(self):
        """Every gradient in one 1-D array laid out as :attr:`flat_params`, filled by the
        backward pass (the buffer data-parallel training averages over the ranks)."""
        return self._params.grads

    @property
    def shuffle_rng(self):
        """The ``numpy.random.Generator`` that shuffles the samples in :meth:`fit`
        (from `seed`; saved with the model). Data-parallel training gives each rank one
        of its own."""
        return self._shuffle_rng

    @shuffle_rng.setter
    def shuffle_rng(self, rng):
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"shuffle_rng must be a numpy.random.Generator, got "
                            f"{type(rng).__name__}")
        self._shuffle_rng = rng

    def count_params(self):
        """Number of trainable values."""
        return int(self._params.values.size)

    def get_weights(self):
        """Copies of the weights, as Keras's ``get_weights``.

        Returns
        -------
        list of ndarray
            Layer by layer, in order: the layer's ``params`` (``W`` then ``b``;
            ``gamma`` then ``beta``), then its ``state`` arrays
            (BatchNormalization's running ``mean`` then ``var``). Layers without
            weights add nothing.
        """
        return self._params.get_weights()

    def set_weights(self, weights):
        """Set the weights from a list as :meth:`get_weights` returns it, each array cast
        to the network's dtype: ``set_weights(other.get_weights())`` makes this network
        predict exactly as `other`, of the same architecture.

        Raises TypeError or ValueError, naming the array and its layer, for a wrong
        count, shape or dtype, before anything is copied (the network stays as it was).
        """
        self._params.set_weights(weights)

    def _check_bound(self):
        """Take in parameter arrays a user assigned since (same shapes required)."""
        self._params.take_in_replaced()

    def _check_grads_written_in_place(self):
        """ValueError naming the layer and key when a backward pass bound a ``grads``
        entry to a new array (the optimiser would never see that gradient)."""
        self._params.check_grads_written_in_place()

    # ------------------------------------------------------------ inference
    @dispatch("X")
    @_doc_from(_inference.predict)
    def predict(self, X, batch_size=256, fuse=True):
        return _inference.predict(self, X, batch_size, fuse)

    @dispatch("X")
    @_doc_from(_inference.predict_classes)
    def predict_classes(self, X, batch_size=256, fuse=True):
        return _inference.predict_classes(self, X, batch_size, fuse)

    @dispatch("X", "y")
    @_doc_from(_inference.evaluate)
    def evaluate(self, X, y, batch_size=256, loss=None, fuse=True):
        return _inference.evaluate(self, X, y, batch_size, loss, fuse)

    # ------------------------------------------------------------- training
    @holds_blas_to_one_thread
    @reuses_large_blocks
    @_doc_from(training_loop.fit)
    def fit(self, X, y, epochs=1, batch_size=32, learning_rate=PREVIOUS, *, optimizer=None,
            loss=None, validation_data=None, validation_split=0.0, callbacks=None,
            shuffle=True, verbose=False, fuse=True, comm=None):
        return training_loop.fit(
            self, X, y, epochs, batch_size, learning_rate, optimizer=optimizer, loss=loss,
            validation_data=validation_data, validation_split=validation_split,
            callbacks=callbacks, shuffle=shuffle, verbose=verbose, fuse=fuse, comm=comm)

    @holds_blas_to_one_thread
    @reuses_large_blocks
    @_doc_from(training_loop.gradient_descent)
    def gradient_descent(self, learning_rate, x, y, iterations):
        return training_loop.gradient_descent(self, learning_rate, x, y, iterations)

    # ---------------------------------------------------------------- files
    def save(self, path):
        """Write architecture, weights and training state to one ``.npz`` file (no pickle).

        The file holds the architecture as a JSON string (for a graph network,
        its layer calls too) and one array per weight, named
        ``layers.<i>.<key>``, with everything resuming training
        needs: layer states, the optimiser's state, the epoch count, the
        shuffling generator and the learning-rate schedule (see
        :mod:`pyx_cnn.serialization`; a loss or schedule of your own is not saved).
        `path` is a str, a path-like or a binary file object (``io.BytesIO``).
        """
        serialization.save(self, path)

    @classmethod
    def load(cls, path):
        """Read a network written by :meth:`save`.

        `path` is a str, a path-like or a binary file object open for reading
        (``open(name, "rb")``, ``io.BytesIO``), as :meth:`save` takes. Raises
        FileNotFoundError; TypeError naming `path` for anything else; ValueError
        naming the file when it is not a readable pyx_cnn model
        (:func:`pyx_cnn.serialization.load`).
        """
        return serialization.load(path, cls)

    def to_onnx(self, path, opset=17):
        """Write the network as an ONNX model (see :func:`pyx_cnn.onnx.to_onnx`)."""
        from . import onnx as _onnx

        return _onnx.to_onnx(self, path, opset)

    @classmethod
    def from_onnx(cls, model):
        """Read an ONNX model (a path, bytes or an ``onnx.ModelProto``) of supported
        operators as a graph network (see :func:`pyx_cnn.onnx.from_onnx`)."""
        from . import onnx as _onnx

        return _onnx.from_onnx(model)

    # -------------------------------------------------------------- display
    def summary(self, print_fn=print):
        """A table of layers, output shapes, parameter counts and fusions, as Keras's ``summary``.

        The last column names the fusion rule each layer runs by in ``fit``
        and ``evaluate`` (:mod:`pyx_cnn.fusion`), for the network's loss, or
        when it has none, for the loss ``fit`` picks for labels: binary
        cross-entropy after a final sigmoid, cross-entropy after a final
        softmax. A line under the table says when that final activation is
        left to the loss (rule ``sigmoid_into_loss`` or ``softmax_into_loss``).

        Parameters
        ----------
        print_fn : callable or None, optional
            Called with the table as one string (``print`` by default). With
            None, nothing is printed and the table is returned.

        Returns
        -------
        str or None
            The table when `print_fn` is None, else None (so a REPL or a
            notebook does not show it twice).
        """
        if print_fn is not None and not callable(print_fn):
            raise TypeError(f"print_fn must be callable or None, got {type(print_fn).__name__}")
        text = summary_table(self)
        if print_fn is None:
            return text
        print_fn(text)
        return None

    def __repr__(self):
        if self.is_graph:
            return (f"NeuralNetwork(inputs=Input({self.input_shape}), outputs=<a graph of "
                    f"{len(self.layers)} layers, output {self.output_shape}>)")
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"NeuralNetwork([{inner}], input_shape={self.input_shape})"
