"""Weights prepared for the kernels once, not at every batch or every inference call.

Before a convolution runs, its filters are put in the layout its kernels read
(:func:`pyx_cnn.ops.conv.weight_layout`, then the direct kernel's panels), and at
inference a batch normalisation is folded into them
(:func:`pyx_cnn.fusion.fold_batch_norm`). For ResNet-18 that is 11 million weights
copied three times: 85 ms of every batch of 64 images (of about 900 ms on one AMD
EPYC core, and single-threaded while the kernels run on all the threads), and 56 ms
of every ``predict`` call: predicting one image took 74 ms, where its arithmetic
takes about 8.

During ``predict``, ``evaluate`` and the validation passes of ``fit`` the
parameters do not change, so those calls run inside :func:`keeping_prepared_weights`:
each layer then keeps what it prepared in a dict of its own (:func:`kept_for`), as
onnxruntime packs a model's weights once when it loads it. The dict outlasts the
call: the layer holds it with a copy of the arrays (and values) it was prepared
from, its *sources*, and the next call takes it again when they still hold the
same bytes (one ``memcmp`` per array, a few milliseconds for ResNet-18's 45 MB),
else makes a new one. So weights changed in place (``layer.params["W"][...] = v``,
a ``fit``, ``set_weights``) are always seen; ``fit`` also lets go of its layers'
dicts when it starts (their weights are about to change). A layer holds its
preparations (about three copies of its weights, for a convolution followed by a
batch normalisation) and the copy of its sources until its next inference call
with other weights, a ``fit``, or its end.

Outside such a call (training, or a layer called directly) :func:`kept_for` gives
None and everything is prepared at each call, from the current parameters.
"""
from contextlib import contextmanager
from contextvars import ContextVar
import weakref

import numpy as np

from ._flat_vectors import _same_bytes

__all__ = ["keeping_prepared_weights", "kept_for", "prepared", "forget_prepared"]

# {id(layer): (layer, its dict)} during a call (per thread: a context variable)
_KEPT = ContextVar("pyx_cnn_kept_weights", default=None)
# {id(layer): (weak reference to it, copies of its sources, its dict, the finalizer that
# drops the entry when the layer goes)} between calls. By identity, not by the layers'
# ==: a layer class may define one (two equal layers would share an entry, and a class
# with == and no hash could not be a key).
_HELD = {}


@contextmanager
def keeping_prepared_weights():
    """Inside the block (re-entrant), :func:`kept_for` gives each layer its dict of
    prepared weights, checked against the layer's sources once, at the first ask.
    The parameters must not change inside.
    Also a decorator: ``@keeping_prepared_weights()`` (contextlib's context managers
    are)."""
    if _KEPT.get() is not None:
        yield
        return
    token = _KEPT.set({})
    try:
        yield
    finally:
        _KEPT.reset(token)


def kept_for(owner, sources):
    """The dict in which `owner` (a layer) keeps its prepared weights, or None outside
    :func:`keeping_prepared_weights`.

    `sources` is a tuple of every array and value the preparations are made from
    (``(W, b)`` for a convolution). At the first ask of a call, the dict `owner`
    held from an earlier call is taken again if its sources still hold the same
    bytes (arrays: same shape, dtype and bytes; other values: equal), else a new
    dict replaces it; the other asks of the call get the same dict.
    """
    kept = _KEPT.get()
    if kept is None:
        return None
    entry = kept.get(id(owner))
    if entry is None or entry[0] is not owner:   # (the entry keeps `owner` alive)
        entry = kept[id(owner)] = (owner, _lasting(owner, sources))
    return entry[1]


def _lasting(owner, sources):
    """`owner`'s dict from an earlier call if made from `sources`' current contents,
    else a new one, held with copies of `sources` (a new dict at every call for an
    object that takes no weak reference)."""
    held = _HELD.get(id(owner))
    if held is not None and held[0]() is not owner:
        held = None
    if held is not None and len(held[1]) == len(sources) and all(
            _same(copy, source) for copy, source in zip(held[1], sources)):
        return held[2]
    dict_ = {}
    if held is None:
        try:
            finalizer = weakref.finalize(owner, _HELD.pop, id(owner), None)
        except TypeError:       # no weak reference to it: nothing held
            return dict_
        finalizer.atexit = False
        reference = weakref.ref(owner)
    else:
        reference, finalizer = held[0], held[3]
    copies = tuple(np.array(s, copy=True) if isinstance(s, np.ndarray) else s
                   for s in sources)
    _HELD[id(owner)] = (reference, copies, dict_, finalizer)
    return dict_


def _same(copy, source):
    """Whether `source` holds what `copy` (made by :func:`_lasting`) holds."""
    if not isinstance(source, np.ndarray):
        return not isinstance(copy, np.ndarray) and type(copy) is type(source) \
            and copy == source
    if (not isinstance(copy, np.ndarray) or copy.shape != source.shape
            or copy.dtype != source.dtype):
        return False
    flat = np.ascontiguousarray(source).reshape(-1).view(np.uint8)
    return _same_bytes(copy.reshape(-1).view(np.uint8), flat)


def forget_prepared(owners):
    """Let go of what the layers `owners` hold between calls (``fit`` does when it
    starts: the weights are about to change)."""
    for owner in owners:
        held = _HELD.get(id(owner))
        if held is not None and held[0]() is owner:
            del _HELD[id(owner)]
            held[3].detach()


def prepared(kept, key, make, *args):
    """``kept[key]``, made by ``make(*args)`` the first time; ``make(*args)`` when `kept`
    is None (a training step: nothing is kept)."""
    if kept is None:
        return make(*args)
    if key not in kept:
        kept[key] = make(*args)
    return kept[key]
