"""The model file: architecture and weights in one ``.npz`` (no pickle).

The file holds the architecture as a JSON string (a 0-d unicode array under
``__pyx_cnn_architecture__``) and one array per weight, named
``layers.<i>.<key>``.
"""
import json
import os
import zipfile

import numpy as np

from . import layers as _layers
from ._validation import check_result_size, shape_str

__all__ = ["SerializationMixin"]

_ARCH_KEY = "__pyx_cnn_architecture__"
_FORMAT = "pyx_cnn.NeuralNetwork"
_FORMAT_VERSION = 1


class SerializationMixin:
    """``save`` and ``load`` for :class:`NeuralNetwork`."""

    def _architecture(self):
        return {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "input_shape": list(self.input_shape),
            "dtype": self.dtype.name,
            "loss": None if self.loss is None else self.loss.name,
            "optimizer": self.optimizer.name,
            "layers": [{"class": type(layer).__name__, "config": layer.get_config()}
                       for layer in self.layers],
        }

    def save(self, path):
        """Write architecture and weights to one ``.npz`` file (no pickle).

        The file holds the architecture as a JSON string (a 0-d unicode array
        under ``__pyx_cnn_architecture__``) and one array per weight, named
        ``layers.<i>.<W|b>``. The optimiser's state is not saved.
        """
        self._check_bound()
        arrays = {_ARCH_KEY: np.array(json.dumps(self._architecture()))}
        for i, layer in enumerate(self.layers):
            for key, value in layer.params.items():
                arrays[f"layers.{i}.{key}"] = value
        with open(os.fspath(path), "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path):
        """Read a network written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            When `path` does not exist.
        ValueError
            When the file is not a readable pyx_cnn model (truncated, another
            format, missing or misshapen weights); the message names the file.
        MemoryError
            When the file declares more data than the memory available (checked
            before reading it) or an architecture whose weights cannot fit.

        Notes
        -----
        Nothing in the file is unpickled (``allow_pickle=False``): a file
        holding object arrays is refused.
        """
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no model file at {path!r}")
        try:
            with open(path, "rb") as fh:
                magic = fh.read(4)
            if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
                raise ValueError("not a .npz (zip) archive")
            with zipfile.ZipFile(path) as archive:
                declared = sum(info.file_size for info in archive.infolist())
            # a compressed member can inflate far beyond the file's size: refuse
            # before reading what cannot fit (MemoryError, not caught below)
            check_result_size(f"loading {path!r}", ((declared,), np.uint8))
            data = np.load(path, allow_pickle=False)
            with data:
                arrays = {key: data[key] for key in data.files}
        except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError,
                NotImplementedError, RuntimeError) as exc:
            # NotImplementedError: a compression method zipfile lacks;
            # RuntimeError: an encrypted member
            raise ValueError(f"{path!r} is not a readable pyx_cnn model file: {exc}") from None
        try:
            return cls._from_arrays(arrays)
        except (KeyError, ValueError, TypeError, RecursionError) as exc:
            raise ValueError(f"{path!r} is not a valid pyx_cnn model file: {exc}") from None

    @classmethod
    def _from_arrays(cls, arrays):
        if _ARCH_KEY not in arrays:
            raise ValueError(f"no {_ARCH_KEY!r} entry (not saved by NeuralNetwork.save)")
        arch = arrays.pop(_ARCH_KEY)
        if arch.ndim != 0 or arch.dtype.kind != "U":
            raise ValueError(f"{_ARCH_KEY!r} must be a 0-d unicode string")
        arch = json.loads(str(arch))
        if not isinstance(arch, dict) or arch.get("format") != _FORMAT:
            raise ValueError(f"format is not {_FORMAT!r}")
        if arch.get("format_version") != _FORMAT_VERSION:
            raise ValueError(f"unsupported format_version {arch.get('format_version')!r}")
        built = []
        for spec in arch["layers"]:
            name = spec["class"]
            if name not in _layers.LAYER_CLASSES:
                raise ValueError(f"unknown layer class {name!r}")
            config = dict(spec["config"])
            built.append(_layers.LAYER_CLASSES[name](**config))
        net = cls(built, tuple(arch["input_shape"]), seed=0, dtype=arch["dtype"],
                  loss=arch.get("loss"), optimizer=arch.get("optimizer", "sgd"))
        expected = {f"layers.{i}.{key}": value
                    for i, layer in enumerate(net.layers) for key, value in layer.params.items()}
        missing = sorted(set(expected) - set(arrays))
        extra = sorted(set(arrays) - set(expected))
        if missing or extra:
            raise ValueError(f"weights missing {missing} / unexpected {extra}")
        for key, target in expected.items():
            value = arrays[key]
            if value.dtype.kind != "f":
                raise ValueError(f"{key} has dtype {value.dtype}, expected floating point")
            if value.shape != target.shape:
                raise ValueError(f"{key} has shape {shape_str(value.shape)}, expected "
                                 f"{shape_str(target.shape)}")
            target[...] = value
        return net
