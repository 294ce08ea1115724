"""The model file: architecture, weights and training state in one ``.npz`` (no pickle).

The file holds the architecture as a JSON string (a 0-d unicode array under
``__pyx_cnn_architecture__``) and one array per weight, named
``layers.<i>.<key>``. Since format version 2 it also holds what resuming
training needs, so that ``load`` then ``fit`` continues exactly as an
uninterrupted run would:

- every layer's non-trainable ``state`` arrays (running statistics), named
  ``layers.<i>.state.<key>``;
- the optimiser: its class, arguments and scalars in the JSON (``"optimizer_spec"``;
  ``"optimizer"`` keeps its name, as in version 1),
  its arrays named ``optimizer.<key>``;
- under ``"training"`` in the JSON: the epoch count, the shuffling generator's
  state, and the learning rate or built-in schedule (with its state) of the
  last ``fit`` call (a custom callable schedule is not saved).

Since format version 3 the JSON's ``"graph"`` says how the layers are wired: null
for a chain (the layers in order), else, for a network built from ``inputs`` and
``outputs``, ``{"nodes": [{"layer": i, "inputs": [r, ...]}, ...]}``: one entry per
layer call in topological order, ``i`` the layer's index in ``"layers"`` (a layer
called several times appears in several entries), each ``r`` the tensor it reads:
``-1`` the input, ``k`` the output of entry ``k``; the last entry's output is the
network's. ``load`` calls the layers on an ``Input`` again in that order.

Version 1 files (weights only) and version 2 files (chains) still load; a version 1
file's optimiser starts afresh.
"""
import io
import json
import os
import zipfile

import numpy as np

from . import layers as _layers
from .losses import LOSS_CLASSES
from .optim import OPTIMIZER_CLASSES, get_optimizer
from .schedules import SCHEDULE_CLASSES
from ._validation import check_learning_rate, check_result_size, shape_str

__all__ = ["save", "load", "to_arrays", "from_arrays"]

ARCH_KEY = "__pyx_cnn_architecture__"
_FORMAT = "pyx_cnn.NeuralNetwork"
_FORMAT_VERSION = 3
_READABLE_VERSIONS = (1, 2, 3)
_OPT_PREFIX = "optimizer."


class UnknownLayerClass(ValueError):
    """A model file names a layer class that is not defined in this process."""


def _layer_states(net):
    """``{"layers.<i>.state.<key>": array}`` for every layer's ``state`` dict."""
    arrays = {}
    for i, layer in enumerate(net.layers):
        for key, value in (getattr(layer, "state", None) or {}).items():
            arrays[f"layers.{i}.state.{key}"] = np.asarray(value)
    return arrays


def _generators(net):
    """The random generators whose state resuming needs: ``{name: Generator}``."""
    found = {"shuffle": net.shuffle_rng}
    for i, layer in enumerate(net.layers):
        for attr in ("rng", "_rng"):
            value = getattr(layer, attr, None)
            if isinstance(value, np.random.Generator):
                found[f"layers.{i}.{attr}"] = value
    return found


def _schedule_spec(rate):
    if rate is None:
        return None
    if isinstance(rate, float):
        return {"kind": "number", "value": rate}
    if type(rate).__name__ in SCHEDULE_CLASSES and type(rate) is SCHEDULE_CLASSES[
            type(rate).__name__]:
        return {"kind": "schedule", "class": type(rate).__name__, "config": rate.get_config(),
                "state": rate.state_dict()}
    return None   # a custom callable: not saved


def _schedule_from_spec(spec):
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise ValueError(f"training.learning_rate must be an object, got {spec!r}")
    if spec.get("kind") == "number":
        return check_learning_rate(spec.get("value"), "training.learning_rate")
    if spec.get("kind") == "schedule":
        name = spec.get("class")
        if name not in SCHEDULE_CLASSES:
            raise ValueError(f"unknown schedule class {name!r}")
        schedule = SCHEDULE_CLASSES[name](**dict(spec.get("config", {})))
        schedule.load_state_dict(dict(spec.get("state", {})))
        return schedule
    raise ValueError(f"training.learning_rate has unknown kind {spec.get('kind')!r}")


def _loss_name(loss):
    """A built-in loss's name; None for no loss and for a loss of the user's own (not saved)."""
    if loss is None or LOSS_CLASSES.get(loss.name) is not type(loss):
        return None
    return loss.name


def _graph_spec(net):
    """The ``"graph"`` entry: None for a chain, the layer calls of a graph."""
    nodes = getattr(net._chain, "nodes", None)
    if nodes is None:
        return None
    return {"nodes": [{"layer": i, "inputs": list(refs)} for i, refs, _ in nodes]}


def _architecture(net):
    opt = net.optimizer
    return {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "input_shape": list(net.input_shape),
        "dtype": net.dtype.name,
        "loss": _loss_name(net.loss),
        "optimizer": opt.name,
        "optimizer_spec": {"class": type(opt).__name__, "config": opt.get_config(),
                           "scalars": {k: v for k, v in opt.state_dict().items()
                                       if not isinstance(v, np.ndarray)}},
        "layers": [{"class": type(layer).__name__, "config": layer.get_config()}
                   for layer in net.layers],
        "graph": _graph_spec(net),
        "training": {
            "epochs_done": int(net.epochs_done),
            "generators": {name: rng.bit_generator.state
                           for name, rng in _generators(net).items()},
            "learning_rate": _schedule_spec(net._learning_rate),
        },
    }


def to_arrays(net):
    """Everything :func:`save` writes, as ``{name: array}`` (see the module docstring)."""
    net._check_bound()
    arrays = {ARCH_KEY: np.array(json.dumps(_architecture(net)))}
    for i, layer in enumerate(net.layers):
        for key, value in layer.params.items():
            arrays[f"layers.{i}.{key}"] = value
    arrays.update(_layer_states(net))
    for key, value in net.optimizer.state_dict().items():
        if isinstance(value, np.ndarray):
            arrays[_OPT_PREFIX + key] = value
    return arrays


def save(net, path):
    """Write `net` to one ``.npz`` file (no pickle): what :meth:`NeuralNetwork.save` does.

    Parameters
    ----------
    net : NeuralNetwork
    path : str, path-like or binary file object
        Written whole (a path is overwritten); a file object (``io.BytesIO``, a
        file opened with ``"wb"``) is written from its current position.

    Raises
    ------
    TypeError
        When `path` is neither a path nor a binary file object (a text file,
        bytes, a number...).

    Notes
    -----
    A loss or a learning-rate schedule of the user's own (a
    :class:`~pyx_cnn.losses.Loss` subclass, a plain callable) is not saved: pass it
    to ``fit`` again after :func:`load`.
    """
    expected = "a str, an os.PathLike or a binary file object open for writing"
    if isinstance(path, io.TextIOBase):
        raise TypeError(f"path must be {expected}, got a text file object "
                        f"({type(path).__name__}): open the file with mode 'wb'")
    if not isinstance(path, (str, os.PathLike)) and not callable(getattr(path, "write", None)):
        raise TypeError(f"path must be {expected}, got {type(path).__name__}")
    arrays = to_arrays(net)
    if isinstance(path, (str, os.PathLike)):
        with open(os.fspath(path), "wb") as fh:
            np.savez(fh, **arrays)
    else:
        np.savez(path, **arrays)


def _model_source(path):
    """What :func:`load` reads, and how its messages name it: ``(source, name)``, with
    `source` a path or the bytes of a binary file object (as ``io.BytesIO``)."""
    if isinstance(path, (str, os.PathLike)):
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no model file at {path!r}")
        return path, repr(path)
    expected = "a str, an os.PathLike or a binary file object open for reading"
    if isinstance(path, io.TextIOBase):
        raise TypeError(f"path must be {expected}, got a text file object "
                        f"({type(path).__name__}): open the file with mode 'rb'")
    if not callable(getattr(path, "read", None)):
        hint = (" (for a model file's contents, pass io.BytesIO(data))"
                if isinstance(path, (bytes, bytearray, memoryview)) else "")
        raise TypeError(f"path must be {expected}, got {type(path).__name__}{hint}")
    data = path.read()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"path must be {expected}, got a {type(path).__name__} whose read() "
                        f"returns {type(data).__name__}, not bytes")
    name = getattr(path, "name", None)
    return io.BytesIO(data), repr(name) if isinstance(name, str) else (
        f"the {type(path).__name__} object")


def load(path, cls=None):
    """Read a network written by :func:`save`: what :meth:`NeuralNetwork.load` does.

    Parameters
    ----------
    path : str, path-like or binary file object
        A file object (``open(name, "rb")``, ``io.BytesIO``) is read from its
        current position to its end.
    cls : type, optional
        The class to build (:class:`NeuralNetwork` or a subclass; by default
        :class:`NeuralNetwork`).

    Raises
    ------
    FileNotFoundError
        When `path` does not exist.
    TypeError
        When `path` is neither a path nor a binary file object open for reading
        (a text file, bytes, a number...).
    ValueError
        When the file is not a readable pyx_cnn model (truncated, another
        format, missing or misshapen weights), or names a layer class that is
        not defined in this process (a layer of your own: define or import it
        first); the message names the file.
    MemoryError
        When the file declares more data than the memory available (checked
        before reading it) or an architecture whose weights cannot fit.

    Notes
    -----
    Nothing in the file is unpickled (``allow_pickle=False``): a file
    holding object arrays is refused.
    """
    source, name = _model_source(path)
    try:
        if isinstance(source, io.BytesIO):
            magic = source.getvalue()[:4]
        else:
            with open(source, "rb") as fh:
                magic = fh.read(4)
        if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
            raise ValueError("not a .npz (zip) archive")
        with zipfile.ZipFile(source) as archive:
            declared = sum(info.file_size for info in archive.infolist())
        # a compressed member can inflate far beyond the file's size: refuse
        # before reading what cannot fit (MemoryError, not caught below)
        check_result_size(f"loading {name}", ((declared,), np.uint8))
        if isinstance(source, io.BytesIO):
            source.seek(0)
        data = np.load(source, allow_pickle=False)
        with data:
            arrays = {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError,
            NotImplementedError, RuntimeError) as exc:
        # NotImplementedError: a compression method zipfile lacks;
        # RuntimeError: an encrypted member
        raise ValueError(f"{name} is not a readable pyx_cnn model file: {exc}") from None
    try:
        return from_arrays(arrays, cls)
    except UnknownLayerClass as exc:   # a valid file, but its class is not defined here
        raise ValueError(f"cannot load {name}: {exc}") from None
    except (KeyError, ValueError, TypeError, RecursionError) as exc:
        raise ValueError(f"{name} is not a valid pyx_cnn model file: {exc}") from None


def from_arrays(arrays, cls=None):
    """The network that :func:`to_arrays` described (`cls` as for :func:`load`).

    Raises
    ------
    KeyError, ValueError, TypeError
        For anything missing or malformed.
    """
    if cls is None:
        from .network import NeuralNetwork as cls
    arrays = dict(arrays)
    arch, version = _read_architecture(arrays)
    net = _build_network(cls, arch, version)
    weights, states, optimizer_keys = _expected_arrays(net, arrays, version)
    _copy_weights(weights, states, arrays)
    if version >= 2:
        _load_training_state(net, arch, arrays, optimizer_keys)
    return net


def _read_architecture(arrays):
    """The architecture (a dict) and format version, taken out of `arrays`."""
    if ARCH_KEY not in arrays:
        raise ValueError(f"no {ARCH_KEY!r} entry (not saved by NeuralNetwork.save)")
    arch = arrays.pop(ARCH_KEY)
    if arch.ndim != 0 or arch.dtype.kind != "U":
        raise ValueError(f"{ARCH_KEY!r} must be a 0-d unicode string")
    arch = json.loads(str(arch))
    if not isinstance(arch, dict) or arch.get("format") != _FORMAT:
        raise ValueError(f"format is not {_FORMAT!r}")
    version = arch.get("format_version")
    if version not in _READABLE_VERSIONS or isinstance(version, bool):
        raise ValueError(f"unsupported format_version {version!r}")
    return arch, version


def _build_network(cls, arch, version):
    """A new network of the architecture's layers, loss and optimiser (fresh weights)."""
    built = []
    for spec in arch["layers"]:
        name = spec["class"]
        if name not in _layers.LAYER_CLASSES:
            raise UnknownLayerClass(
                f"unknown layer class {name!r}: define or import the class before loading "
                "(a subclass of pyx_cnn.layers.Layer of that name, whose get_config() returns "
                "its constructor's arguments); the layer classes known here are "
                f"{', '.join(sorted(_layers.LAYER_CLASSES))}")
        built.append(_layers.LAYER_CLASSES[name](**dict(spec["config"])))
    optimizer = get_optimizer(arch.get("optimizer", "sgd"))
    opt_spec = arch.get("optimizer_spec") if version >= 2 else None
    if opt_spec is not None:
        if not isinstance(opt_spec, dict):
            raise ValueError("optimizer_spec must be an object")
        name = opt_spec.get("class")
        if name not in OPTIMIZER_CLASSES:
            raise ValueError(f"unknown optimizer class {name!r}")
        optimizer = OPTIMIZER_CLASSES[name](**dict(opt_spec.get("config", {})))
    settings = dict(seed=0, dtype=arch["dtype"], loss=arch.get("loss"), optimizer=optimizer)
    graph = arch.get("graph") if version >= 3 else None
    if graph is None:
        return cls(built, tuple(arch["input_shape"]), **settings)
    inputs, outputs = _call_layers(built, graph, tuple(arch["input_shape"]))
    net = cls(inputs=inputs, outputs=outputs, **settings)
    if [id(layer) for layer in net.layers] != [id(layer) for layer in built]:
        raise ValueError("graph: the layers are not listed in the order of their first call")
    return net


def _call_layers(built, graph, input_shape):
    """The symbolic input and output of calling the `built` layers as `graph` says."""
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    if not isinstance(nodes, list) or not nodes:
        raise ValueError("graph must be null or an object with a non-empty list 'nodes'")
    inputs = _layers.Input(input_shape)
    tensors = {-1: inputs}
    for k, node in enumerate(nodes):
        where = f"graph.nodes[{k}]"
        if not isinstance(node, dict):
            raise ValueError(f"{where} must be an object")
        i, refs = node.get("layer"), node.get("inputs")
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(built):
            raise ValueError(f"{where}.layer must be an index into layers, got {i!r}")
        if (not isinstance(refs, list) or len(refs) < (2 if built[i].takes_list else 1)
                or (len(refs) > 1 and not built[i].takes_list)
                or any(isinstance(r, bool) or r not in tensors for r in refs)):
            raise ValueError(f"{where}.inputs must list the tensors its layer reads, made "
                             f"before it (-1: the input, j < {k}: entry j's output), got "
                             f"{refs!r}")
        args = [tensors[r] for r in refs]
        tensors[k] = built[i](args if built[i].takes_list else args[0])
    return inputs, tensors[len(nodes) - 1]


def _expected_arrays(net, arrays, version):
    """Where each array of the file goes: ``(weights, states, optimizer keys)``, with
    ``weights`` ``{name: parameter array}`` and ``states`` ``{name: (state dict, key)}``;
    ValueError when the file misses an array or holds one too many."""
    weights = {f"layers.{i}.{key}": value
               for i, layer in enumerate(net.layers) for key, value in layer.params.items()}
    states = {}
    if version >= 2:
        for i, layer in enumerate(net.layers):
            state = getattr(layer, "state", None)
            if not isinstance(state, dict):
                continue
            prefix = f"layers.{i}.state."
            for key in arrays:
                if key.startswith(prefix):
                    states[key] = (state, key[len(prefix):])
            for key in state:
                states.setdefault(prefix + key, (state, key))
    optimizer_keys = {key for key in arrays if key.startswith(_OPT_PREFIX)} \
        if version >= 2 else set()
    missing = sorted(set(weights) - set(arrays)) + sorted(set(states) - set(arrays))
    extra = sorted(set(arrays) - set(weights) - set(states) - optimizer_keys)
    if missing or extra:
        raise ValueError(f"weights missing {missing} / unexpected {extra}")
    return weights, states, optimizer_keys


def _copy_weights(weights, states, arrays):
    for key, target in weights.items():
        value = arrays[key]
        if value.dtype.kind != "f":
            raise ValueError(f"{key} has dtype {value.dtype}, expected floating point")
        if value.shape != target.shape:
            raise ValueError(f"{key} has shape {shape_str(value.shape)}, expected "
                             f"{shape_str(target.shape)}")
        target[...] = value
    for key, (state, name) in states.items():
        value = arrays[key]
        if value.dtype.kind not in "fiub":
            raise ValueError(f"{key} has dtype {value.dtype}, expected numbers")
        current = state.get(name)
        if isinstance(current, np.ndarray):
            if value.shape != current.shape:
                raise ValueError(f"{key} has shape {shape_str(value.shape)}, expected "
                                 f"{shape_str(current.shape)}")
            current[...] = value
        else:
            state[name] = value.copy()


def _load_training_state(net, arch, arrays, optimizer_keys):
    """The optimiser's state, the epoch count, the generators and the last learning rate."""
    opt_spec = arch.get("optimizer_spec")
    if isinstance(opt_spec, dict):
        state = dict(opt_spec.get("scalars", {}))
        state.update({key[len(_OPT_PREFIX):]: arrays[key] for key in optimizer_keys})
        net.optimizer.load_state_dict(state, size=net.count_params(), dtype=net.dtype)
    training = arch.get("training") or {}
    if not isinstance(training, dict):
        raise ValueError("training must be an object")
    epochs = training.get("epochs_done", 0)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"training.epochs_done must be an int >= 0, got {epochs!r}")
    net.epochs_done = epochs
    generators = _generators(net)
    for name, state in dict(training.get("generators", {})).items():
        if name not in generators:
            raise ValueError(f"training.generators has unknown entry {name!r}")
        try:
            generators[name].bit_generator.state = state
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"training.generators[{name!r}]: {exc}") from None
    net._learning_rate = _schedule_from_spec(training.get("learning_rate"))
