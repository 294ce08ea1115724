"""scikit-learn estimators over a pyx_cnn network: ``CNNClassifier`` and ``CNNRegressor``.

Needs scikit-learn (``pip install "pyx_cnn[sklearn]"``)::

    from sklearn.model_selection import GridSearchCV
    from pyx_cnn.sklearn import CNNClassifier
    from pyx_cnn import layers

    clf = CNNClassifier(epochs=5, random_state=0)           # the default small CNN
    clf.fit(images, labels)                                  # (N, H, W) or (N, H, W, C)
    search = GridSearchCV(clf, {"learning_rate": [0.003, 0.01]}, cv=3).fit(images, labels)

``layers`` is the body of the network: a list of :mod:`pyx_cnn.layers` layers,
never modified (each ``fit`` builds fresh layers from their ``get_config()``).
The estimator appends the output layer: a ``Flatten`` when the body's output
is still an image, then ``Dense(n_classes, activation="softmax")`` for the
classifier, ``Dense(n_outputs)`` for the regressor.

``layers`` may instead be a *model function*, for any network (a graph too):
``layers(input_shape, n_outputs)`` returns a new :class:`~pyx_cnn.NeuralNetwork`
taking samples of ``input_shape`` (``sample_shape_``: ``(H, W, C)`` or
``(features,)``) with the output ``(n_outputs,)``: ending in a softmax for the
classifier (``n_outputs`` is the number of classes), in no activation for the
regressor, the whole network (nothing is appended). Each ``fit`` calls it, then
builds the same layers again with the estimator's ``random_state``, ``dtype``
and ``optimizer``. A function defined at a module's top level pickles with the
estimator::

    def resnet_block(input_shape, n_outputs):
        x = layers.Input(input_shape)
        h = layers.Conv2D(8, 3, padding=1, activation="relu")(x)
        h = layers.ReLU()(layers.Add()([layers.Conv2D(8, 3, padding=1)(h), h]))
        out = layers.Dense(n_outputs, activation="softmax")(layers.GlobalAvgPool2D()(h))
        return NeuralNetwork(inputs=x, outputs=out)

    CNNClassifier(resnet_block, epochs=5).fit(images, labels)

Inputs ``X``:

- images ``(N, H, W)`` (one channel) or ``(N, H, W, C)``, channels-last; a
  batch that looks channels-first, ``(N, C, H, W)`` with at most 4 channels
  and both image sizes above 4, is refused with the fix
  ``X.transpose(0, 2, 3, 1)`` (``input_shape`` takes such a shape as meant);
- a table ``(N, n_features)``: with ``input_shape=(H, W)`` or ``(H, W, C)``
  each row is reshaped (C order) to one image, so that a ``Pipeline`` of
  scikit-learn transformers, which pass 2-D arrays, can end in a CNN;
  without ``input_shape`` the rows are feature vectors, and the default body
  is then ``Dense(32, activation="relu")`` (a CNN needs the image shape: it is
  not guessed from the number of features).

``n_features_in_`` is the number of values per sample (``H*W*C`` for images).
``predict``, ``score`` and later ``partial_fit`` calls take ``X`` in any form
``fit`` takes for the same samples: images of ``sample_shape_``, or (with
``input_shape``, or for feature vectors) a table of ``n_features_in_`` columns.
"""
import io
import math
import numbers

import numpy as np

from . import layers as _layers
from ._batches import channels_first_hint, sample_shape, shape_hint
from ._estimator_networks import build_network
from ._optional import require
from ._validation import check_learning_rate
from .layers.base import check_dtype
from .optim import get_optimizer

require("sklearn", "scikit-learn", "sklearn", "pyx_cnn.sklearn")

from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin  # noqa: E402
from sklearn.preprocessing import LabelEncoder  # noqa: E402
from sklearn.utils import check_random_state  # noqa: E402
from sklearn.utils.multiclass import check_classification_targets  # noqa: E402
from sklearn.utils.validation import (  # noqa: E402
    check_array, check_is_fitted, column_or_1d, validate_data,
)

__all__ = ["CNNClassifier", "CNNRegressor"]

def _given(value):
    """``str '3'`` for messages: the type and the value given."""
    return "None" if value is None else f"{type(value).__name__} {value!r}"


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _ndim(X):
    """The number of axes of `X`, leaving it as it is (a DataFrame keeps the column
    names that scikit-learn's checks compare)."""
    return X.ndim if hasattr(X, "ndim") else np.asarray(X).ndim


def _as_value_error(check, value, name):
    """Run a pyx_cnn check, raising its TypeError as a ValueError (as scikit-learn's
    parameter validation does)."""
    try:
        check(value, name)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


class _CNNBase(BaseEstimator):
    """What the classifier and the regressor share (see the module docstring)."""

    def __init__(self, layers=None, *, input_shape=None, epochs=10, batch_size=32,
                 learning_rate=0.01, optimizer="adam", dtype="float64", random_state=None,
                 verbose=False):
        self.layers = layers
        self.input_shape = input_shape
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # ---------------------------------------------------------------- inputs
    def _validate_X(self, X, y=None, reset=True):
        """`X` (and, when `reset`, `y`) checked; X reshaped to ``(N,) + sample shape``.

        With `reset` (``fit``, a first ``partial_fit``) X sets ``sample_shape_``;
        otherwise (``predict``, a later ``partial_fit``) X must be of a kind that
        ``fit`` takes for that sample shape: a table of ``n_features_in_``
        columns (feature vectors, or image rows with ``input_shape``), or images
        of ``sample_shape_`` (``(N, H, W)`` for one channel).
        """
        kw = dict(allow_nd=True, dtype=(np.float64, np.float32))
        if reset:
            X, y = validate_data(self, X, y, multi_output=self._multi_output,
                                 y_numeric=self._multi_output, reset=True, **kw)
            X = self._as_images(X)
            if X.ndim not in (2, 4):
                raise ValueError(f"X must be (N, features), (N, H, W) or (N, H, W, C), got "
                                 f"{X.ndim}-D data")
            self._check_sample_shape(X.shape)
            self.sample_shape_ = X.shape[1:]
            # scikit-learn counts the columns of axis 1; a sample holds H*W*C values
            self.n_features_in_ = math.prod(self.sample_shape_)
            return X, y
        check_is_fitted(self)
        if _ndim(X) == 2 and (len(self.sample_shape_) == 1 or self.input_shape is not None):
            # a table, as fit takes it: scikit-learn's checks of the columns (their
            # number, and their names for a DataFrame), then one image per row
            X = validate_data(self, X, reset=False, **kw)
            return self._as_images(X), y
        # images: axis 1 is not a number of features, compare whole sample shapes
        X = self._as_images(check_array(X, **kw))
        if X.shape[1:] != self.sample_shape_:
            raise ValueError(f"X has samples of shape {X.shape[1:]}, but "
                             f"{type(self).__name__} is expecting samples of shape "
                             f"{self.sample_shape_} as input"
                             + shape_hint(X.shape, self.sample_shape_))
        return X, y

    def _check_sample_shape(self, shape):
        """Refuse images that do not match `input_shape`, or that look channels-first."""
        given = tuple(shape[1:])
        if self.input_shape is not None:
            expected = sample_shape(self.input_shape)
            if given != expected:
                raise ValueError(f"input_shape={tuple(self.input_shape)} takes samples of "
                                 f"shape {expected}, but X has samples of shape {given}")
        elif channels_first_hint(shape):
            raise ValueError(
                f"X has samples of shape {given}{channels_first_hint(shape)} (images of "
                f"height {given[0]} with {given[2]} channels, if that is what they are, "
                f"are taken with input_shape={given})")

    def _as_images(self, X):
        if X.ndim == 3:
            X = X[..., np.newaxis]
        if self.input_shape is not None and X.ndim == 2:
            shape = tuple(self.input_shape)
            if len(shape) == 2:
                shape += (1,)
            if math.prod(shape) != X.shape[1]:
                raise ValueError(f"X has {X.shape[1]} features, which do not make one image of "
                                 f"input_shape={tuple(self.input_shape)}")
            X = X.reshape((X.shape[0],) + shape)
        return X

    def _seed(self):
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    # ---------------------------------------------------------------- network
    def _build_network(self, sample_shape, n_outputs, activation):
        return build_network(self.layers, sample_shape, n_outputs, activation,
                             seed=self._seed(), dtype=self.dtype, optimizer=self.optimizer)

    def _train(self, X, targets, epochs):
        self.network_.fit(X, targets, epochs=epochs, batch_size=self.batch_size,
                          learning_rate=self.learning_rate, verbose=self.verbose)

    def _check_params(self):
        """Refuse a bad hyper-parameter before any work, with a ValueError naming it
        (as scikit-learn's own estimators do)."""
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {_given(value)}")
        if not callable(self.learning_rate):       # a schedule (pyx_cnn.schedules) or a rate
            _as_value_error(check_learning_rate, self.learning_rate, "learning_rate")
        get_optimizer(self.optimizer)              # a ValueError naming optimizer
        _as_value_error(lambda value, _: check_dtype(value), self.dtype, "dtype")
        try:
            check_random_state(self.random_state)
        except ValueError:
            raise ValueError("random_state must be None, an int in [0, 2**32 - 1] or a "
                             f"numpy RandomState, got {_given(self.random_state)}") from None
        shape = self.input_shape
        if shape is not None and not (isinstance(shape, (tuple, list)) and len(shape) in (2, 3)
                                      and all(_is_int(s) and s >= 1 for s in shape)):
            raise ValueError("input_shape must be None or an image shape (H, W) or (H, W, C) "
                             f"of ints >= 1, got {_given(shape)}")
        if self.layers is not None and not callable(self.layers) and not (
                isinstance(self.layers, (list, tuple))
                and all(isinstance(layer, _layers.Layer) for layer in self.layers)):
            raise ValueError("layers must be None, a list of pyx_cnn.layers layers or a model "
                             "function (input_shape, n_outputs) -> NeuralNetwork, got "
                             f"{_given(self.layers)}")
        if not isinstance(self.verbose, (bool, np.bool_, numbers.Integral)):
            raise ValueError(f"verbose must be True or False, got {_given(self.verbose)}")

    def __getstate__(self):
        # the network travels as its model file (NeuralNetwork.save): layers keep
        # references to the activation registry's kernels, which do not pickle
        state = self.__dict__.copy()
        net = state.pop("network_", None)
        if net is not None:
            buffer = io.BytesIO()
            net.save(buffer)
            state["_network_file"] = buffer.getvalue()
        return state

    def __setstate__(self, state):
        state = dict(state)
        data = state.pop("_network_file", None)
        self.__dict__.update(state)
        if data is not None:
            from .network import NeuralNetwork

            self.network_ = NeuralNetwork.load(io.BytesIO(data))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.non_deterministic = False
        return tags


class CNNClassifier(ClassifierMixin, _CNNBase):
    """A pyx_cnn network as a scikit-learn classifier (softmax output, cross-entropy).

    Parameters
    ----------
    layers : list of pyx_cnn.layers.Layer or callable, optional
        The network's body (see :mod:`pyx_cnn.sklearn`); the output layer
        ``Dense(n_classes, activation="softmax")`` is appended. Or a model
        function ``(input_shape, n_outputs) -> NeuralNetwork`` (a graph too),
        the whole network, ending in a softmax. Default: a
        small CNN, ``Conv2D(8, 3, padding=1, activation="relu")``,
        ``MaxPool2D(2, 2)``, ``Flatten()``, for images; ``Dense(32,
        activation="relu")`` for feature vectors.
    input_shape : tuple, optional
        ``(H, W)`` or ``(H, W, C)``: reshape 2-D ``X`` rows into images; image
        ``X`` must then have samples of that shape.
    epochs : int, optional
        Passes over the data per ``fit`` (``partial_fit`` runs one), >= 1.
    batch_size : int, optional
        >= 1.
    learning_rate : float, optional
        A finite number >= 0 (or a :mod:`pyx_cnn.schedules` schedule).
    optimizer : {"sgd", "momentum", "adam"}, optional
    dtype : {"float64", "float32"}, optional
    random_state : int, RandomState instance or None, optional
        Seeds the initial weights and the shuffling.
    verbose : bool, optional
        A progress bar per ``fit``.

    Attributes
    ----------
    classes_ : ndarray
        The labels seen in ``fit`` (any type: strings too).
    network_ : pyx_cnn.NeuralNetwork
    n_features_in_ : int
        Values per sample.
    sample_shape_ : tuple
        One sample's shape as the network takes it.

    Notes
    -----
    Passes every check of ``sklearn.utils.estimator_checks`` (no expected
    failures). The hyper-parameters are checked at ``fit`` (and at the first
    ``partial_fit``), before any work: a bad one raises a ValueError naming it.
    """

    _multi_output = False

    def fit(self, X, y):
        """Train a new network on (X, y) for ``epochs`` epochs; returns self."""
        self._check_params()
        X, y = self._validate_X(X, y, reset=True)
        check_classification_targets(y)
        self._encoder = LabelEncoder().fit(y)
        self.classes_ = self._encoder.classes_
        self.network_ = self._build_network(self.sample_shape_, len(self.classes_), "softmax")
        self._train(X, self._encoder.transform(y), self.epochs)
        return self

    def partial_fit(self, X, y, classes=None):
        """One epoch on (X, y), continuing from the current weights.

        `classes` (every label that will ever appear) is required on the first call.
        """
        first = not hasattr(self, "network_")
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self._check_params()
            X, y = self._validate_X(X, y, reset=True)
            check_classification_targets(y)
            self._encoder = LabelEncoder().fit(np.asarray(classes))
            self.classes_ = self._encoder.classes_
            self.network_ = self._build_network(self.sample_shape_, len(self.classes_),
                                                "softmax")
        else:
            if classes is not None and not np.array_equal(np.unique(classes), self.classes_):
                raise ValueError(f"classes={classes!r} is not the classes_ of the first "
                                 f"call, {self.classes_!r}")
            X, _ = self._validate_X(X, reset=False)
            y = column_or_1d(y, warn=True)
            check_classification_targets(y)
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"y holds labels not in classes_: {unknown!r}")
        self._train(X, self._encoder.transform(y), 1)
        return self

    def predict_proba(self, X):
        """Class probabilities ``(N, n_classes)``, columns in the order of ``classes_``."""
        X, _ = self._validate_X(X, reset=False)
        return self.network_.predict(X)

    def predict(self, X):
        """The most probable class of each sample."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class CNNRegressor(RegressorMixin, _CNNBase):
    """A pyx_cnn network as a scikit-learn regressor (linear output, mean squared error).

    Parameters are those of :class:`CNNClassifier`; the appended output layer
    is ``Dense(n_outputs)`` (a model function's network ends in no activation). ``y`` is ``(N,)`` or ``(N, n_outputs)``; the network
    trains on standardised targets (each output's mean and standard deviation
    from ``fit``) and ``predict`` undoes it.

    Attributes
    ----------
    network_ : pyx_cnn.NeuralNetwork
    n_features_in_ : int
    sample_shape_ : tuple

    Notes
    -----
    Passes every check of ``sklearn.utils.estimator_checks`` (no expected
    failures).
    """

    _multi_output = True

    def _targets(self, y):
        y = np.asarray(y, dtype=np.float64)
        return ((y.reshape(y.shape[0], -1) - self._y_mean) / self._y_scale)

    def _start(self, X, y):
        """Validate a first call's data, fix the target scaling, build a new network."""
        self._check_params()
        X, y = self._validate_X(X, y, reset=True)
        y = np.asarray(y, dtype=np.float64)
        self._y_1d = y.ndim == 1
        y2 = y.reshape(y.shape[0], -1)
        self._y_mean = y2.mean(axis=0)
        scale = y2.std(axis=0)
        self._y_scale = np.where(scale > 0, scale, 1.0)
        self.network_ = self._build_network(self.sample_shape_, y2.shape[1], None)
        return X, y

    def fit(self, X, y):
        """Train a new network on (X, y) for ``epochs`` epochs; returns self."""
        X, y = self._start(X, y)
        self._train(X, self._targets(y), self.epochs)
        return self

    def partial_fit(self, X, y):
        """One epoch on (X, y), continuing from the current weights (the target
        scaling is the first call's)."""
        if not hasattr(self, "network_"):
            X, y = self._start(X, y)
        else:
            X, _ = self._validate_X(X, reset=False)
            y = check_array(y, ensure_2d=False, dtype=np.float64)
            if y.reshape(y.shape[0], -1).shape[1] != self._y_mean.size:
                raise ValueError(f"y has {y.reshape(y.shape[0], -1).shape[1]} outputs, the "
                                 f"first call had {self._y_mean.size}")
        self._train(X, self._targets(y), 1)
        return self

    def predict(self, X):
        """Predictions ``(N,)`` (or ``(N, n_outputs)`` for 2-D targets)."""
        X, _ = self._validate_X(X, reset=False)
        out = self.network_.predict(X) * self._y_scale + self._y_mean
        return out.ravel() if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
