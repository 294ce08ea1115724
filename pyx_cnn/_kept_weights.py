"""Weights prepared for the kernels once per inference call, not once per batch.

Before a convolution runs, its filters are put in the layout its kernels read
(:func:`pyx_cnn.ops.conv.weight_layout`, then the direct kernel's panels), and at
inference a batch normalisation is folded into them
(:func:`pyx_cnn.fusion.fold_batch_norm`). For ResNet-18 that is 11 million weights
copied three times: 85 ms of every batch of 64 images (of about 900 ms on one AMD
EPYC core, and single-threaded while the kernels run on all the threads).

During ``predict``, ``evaluate`` and the validation passes of ``fit`` the
parameters do not change, so those calls run inside :func:`keeping_prepared_weights`:
each layer then keeps what it prepared in a dict of its own
(:func:`kept_for`) and prepares it once for the whole call, as onnxruntime packs
a model's weights when it loads it. Outside such a call (training, or a layer
called directly) :func:`kept_for` gives None and everything is prepared at each
call, from the current parameters. The dicts are dropped when the call returns:
the library holds nothing between calls.
"""
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["keeping_prepared_weights", "kept_for", "prepared"]

# {id(layer): (layer, its dict)} during a call (per thread: a context variable)
_KEPT = ContextVar("pyx_cnn_kept_weights", default=None)


@contextmanager
def keeping_prepared_weights():
    """Inside the block (re-entrant), :func:`kept_for` gives each layer a dict that
    lasts until the outermost block ends. The parameters must not change inside.
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


def kept_for(owner):
    """The dict in which `owner` (a layer) keeps its prepared weights for the current
    call, or None outside :func:`keeping_prepared_weights`."""
    kept = _KEPT.get()
    if kept is None:
        return None
    entry = kept.get(id(owner))
    if entry is None or entry[0] is not owner:   # (the entry keeps `owner` alive)
        entry = kept[id(owner)] = (owner, {})
    return entry[1]


def prepared(kept, key, make, *args):
    """``kept[key]``, made by ``make(*args)`` the first time; ``make(*args)`` when `kept`
    is None (a training step: nothing is kept)."""
    if kept is None:
        return make(*args)
    if key not in kept:
        kept[key] = make(*args)
    return kept[key]
