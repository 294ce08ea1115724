"""How the ranks of data-parallel training agree on ``fit``'s arguments before anything
changes (:mod:`pyx_cnn.mpi`, which exports :func:`check_shards` and
:func:`agree_on_arguments`): one ``allgather`` of what each rank found, then the
same exception on every rank when one refused its arguments or they differ."""
import numbers
import pickle

import numpy as np

__all__ = ["check_shards", "agree_on_arguments", "setting"]


def _describe(array):
    array = np.asarray(array) if not hasattr(array, "shape") else array
    return (int(array.shape[0]) if array.ndim else None, tuple(array.shape[1:]),
            np.dtype(array.dtype).str)


_SHARDS_RULE = ("data-parallel training needs every rank to hold a shard of the same number "
                "of samples, sample shape and dtype (pyx_cnn.mpi.shard cuts one so): ")
_SETTINGS_RULE = "data-parallel training needs the same arguments on every rank: "


def _differences(values_per_rank, names):
    """``"NAME differs between ranks (rank 0: a, rank 1: b)"`` for each of `names` whose
    values differ; `values_per_rank` holds one ``{name: value}`` per rank."""
    problems = []
    for name in names:
        values = [v[name] for v in values_per_rank]
        if len(set(values)) > 1:
            per_rank = ", ".join(f"rank {r}: {v}" for r, v in enumerate(values))
            problems.append(f"{name} differs between ranks ({per_rank})")
    return problems


def _shard_fields(X, y):
    """This rank's shard as ``{"X number of samples": n, ..., "y dtype": "<i8"}``."""
    fields = {}
    for what, array in (("X", X), ("y", y)):
        for label, value in zip(("number of samples", "sample shape", "dtype"),
                                _describe(array)):
            fields[f"{what} {label}"] = value
    return fields


def check_shards(X, y, comm):
    """Raise the same ValueError on every rank unless the shards agree.

    Every rank must hold the same number of samples, the same sample shape
    and the same dtypes for `X` and `y` (one ``allgather`` of the
    descriptions). Returns the global number of samples.
    """
    everyone = comm.allgather(_shard_fields(X, y))
    problems = _differences(everyone, list(everyone[0]))
    if problems:
        raise ValueError(_SHARDS_RULE + "; ".join(problems))
    return sum(fields["X number of samples"] for fields in everyone)


def _message(error):
    try:
        text = str(error)
    except Exception:
        text = ""
    return text or type(error).__name__


def _portable_class(error, message):
    """The class of `error` if every rank can rebuild it as ``cls(message)`` (it pickles,
    by name, and takes a message), else the nearest of its bases that can."""
    for cls in type(error).__mro__:
        try:
            if pickle.loads(pickle.dumps(cls)) is cls and isinstance(cls(message), cls):
                return cls
        except Exception:
            continue
    return RuntimeError


def agree_on_arguments(comm, error=None, X=None, y=None, settings=None):
    """Compare the ranks' checked arguments; raise the same exception on every rank if
    one rank refused its own or if they differ between ranks.

    Every rank calls it once, after checking its arguments and before anything
    changes, with the exception its checks raised (`error`), or with its
    checked shard (`X`, `y`) and `settings` (a dict of numbers and strings,
    e.g. ``{"epochs": 3}``, that must be equal on every rank). One
    ``allgather`` of what each rank found; then:

    - when some rank refused its arguments, every rank raises the exception of
      the lowest such rank, of the same class, its message headed by the rank:
      ``ValueError("rank 1: y labels must lie in [0, 10) ...")`` (on that
      rank, from its own exception);
    - else when the shards differ (number of samples, sample shape, dtype, as
      :func:`check_shards`) or the settings do, every rank raises the same
      ``ValueError`` naming each difference and each rank's value.

    Returns the global number of samples.
    """
    rank = comm.Get_rank()
    report = None
    if error is None:
        try:
            report = (rank, None, None, _shard_fields(X, y), dict(settings or {}))
            pickle.dumps(report)
        except Exception as exc:   # a shard that cannot be described is refused too
            error = exc
    if error is not None:
        message = _message(error)
        report = (rank, _portable_class(error, message), message, None, None)
    everyone = comm.allgather(report)
    refused = [r for r in everyone if r[1] is not None]
    if refused:
        first, cls, message = refused[0][:3]
        raise cls(f"rank {first}: {message}") from error
    problems = []
    shard_problems = _differences([r[3] for r in everyone], list(everyone[0][3]))
    if shard_problems:
        problems.append(_SHARDS_RULE + "; ".join(shard_problems))
    setting_names = sorted(set().union(*(r[4] for r in everyone)))
    setting_problems = _differences([{k: r[4].get(k) for k in setting_names} for r in everyone],
                                    setting_names)
    if setting_problems:
        problems.append(_SETTINGS_RULE + "; ".join(setting_problems))
    if problems:
        raise ValueError(". ".join(problems))
    return sum(r[3]["X number of samples"] for r in everyone)


def setting(value):
    """`value` as every rank can compare it: numbers and strings as they are, an
    optimiser or schedule by its repr (its class and configuration), a loss by
    its name, another object by its class's name."""
    if value is None or isinstance(value, (str, bool, numbers.Integral)):
        return value
    if isinstance(value, numbers.Real):
        return float(value)
    if hasattr(value, "get_config"):
        return repr(value)
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else type(value).__name__
