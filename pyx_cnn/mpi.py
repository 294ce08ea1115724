"""Data-parallel training over MPI (mpi4py): every rank trains on its own shard.

Needs the ``mpi`` extra (``pip install "pyx_cnn[mpi]"``); mpi4py is imported
only when a function here needs it. The contract:

- every rank holds a shard ``(X_r, y_r)`` of the same number of samples N, the
  same sample shape and the same dtypes (:func:`check_shards` raises the same
  ``ValueError`` on every rank otherwise);
- rank 0's weights are broadcast before training (:func:`broadcast_parameters`);
- rank r shuffles its shard each epoch with a generator of its own, derived
  from rank 0's network seed and r (:func:`shuffle_generator`);
- batch b of rank r is rows ``[b*bs, (b+1)*bs)`` of its (shuffled) shard; the
  global batch is their concatenation over ranks, of ``size * bs`` samples;
- after the backward pass the flat gradient buffer is averaged over ranks with
  one ``Allreduce`` (:func:`allreduce_gradients`); since every rank's
  gradient is a mean over the same number of samples, the average is the
  global batch's mean gradient, so the result equals one process training on
  the global batches (up to the order of the float sums), and every rank ends
  with identical weights;
- the epoch's metrics are averaged over ranks (:func:`average_metrics`);
  only rank 0 prints (:func:`is_root`).

Equal N per rank is what keeps every global batch's per-rank parts the same
size (a mean of means is the global mean only then) and every rank stepping
the same number of times; :func:`shard` cuts a data set that way.

Two ways in:

- ``fit_data_parallel(net, X_r, y_r, comm, **fit_kwargs)`` works with
  :meth:`NeuralNetwork.fit` as it is;
- :class:`DataParallel` holds the hooks for ``fit(..., comm=comm)``.

Run with ``mpiexec -n 2 python script.py``. A rank that fails while the
others wait in a collective would leave them waiting, so ``fit(..., comm=comm)``
handles failures in two stages:

- before training, every rank checks its own arguments, then the ranks compare
  them in one ``allgather`` (:func:`agree_on_arguments`): when one rank refused
  its arguments, every rank raises the same exception, naming the rank (that of
  the lowest such rank, e.g. ``ValueError: rank 1: y labels must lie in [0, 10)
  ...``), and when the ranks' shards or settings (epochs, batch size, learning
  rate, loss, optimiser, validation) differ, every rank raises the same
  ``ValueError``; nothing has changed yet on any rank;
- once the ranks have agreed, a failure on any rank (a NaN loss on its shard, a
  callback that fails on rank 0) ends the whole job with ``MPI_Abort``
  (:meth:`DataParallel.run`; :func:`abort_on_error` does the same for any block).
"""
import contextlib
import inspect
import os
import sys
import time
import traceback
import weakref

import numpy as np

from ._mpi_agreement import agree_on_arguments, check_shards, setting

__all__ = [
    "comm_from_env", "check_comm", "is_root", "broadcast_parameters",
    "allreduce_gradients", "check_shards", "agree_on_arguments", "average_metrics",
    "shuffle_generator",
    "shard", "abort_on_error", "AveragingOptimizer", "DataParallel", "fit_data_parallel",
]

# set by the MPI launchers (MPICH/Hydra, Open MPI, Intel MPI, Slurm's PMI)
# seconds a failing rank waits, after printing its traceback, before MPI_Abort
_ABORT_GRACE_SECONDS = 0.5
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMIX_SIZE")


def _mpi():
    from ._optional import require

    return require("mpi4py.MPI", "mpi4py", "mpi", "pyx_cnn.mpi")


def comm_from_env():
    """``MPI.COMM_WORLD`` when this process was started by ``mpiexec -n k`` with k > 1, else None.

    Looks at the launcher's environment variables first, so a plain
    ``python`` run never imports mpi4py.
    """
    sizes = [os.environ.get(name) for name in _SIZE_VARIABLES]
    if not any(s and s.isdigit() and int(s) > 1 for s in sizes):
        return None
    comm = _mpi().COMM_WORLD
    return comm if comm.Get_size() > 1 else None


def check_comm(comm):
    """`comm` itself when it is an mpi4py intra-communicator; TypeError otherwise."""
    for attribute in ("Get_rank", "Get_size", "Allreduce", "Bcast", "allgather"):
        if not hasattr(comm, attribute):
            raise TypeError("comm must be an mpi4py communicator such as MPI.COMM_WORLD, "
                            f"got {type(comm).__name__}")
    return comm


def is_root(comm):
    """True on rank 0, and when `comm` is None (one process)."""
    return comm is None or comm.Get_rank() == 0


def broadcast_parameters(net, comm, root=0):
    """Copy rank `root`'s weights into every rank's network (one ``Bcast`` of
    :attr:`NeuralNetwork.flat_params`)."""
    comm.Bcast(net.flat_params, root=root)


def allreduce_gradients(flat_grad, comm):
    """Average `flat_grad` over the ranks, in place: one ``Allreduce`` (sum), then ``/ size``."""
    size = comm.Get_size()
    if size > 1:
        comm.Allreduce(_mpi().IN_PLACE, flat_grad, op=_mpi().SUM)
        flat_grad /= size
    return flat_grad


def average_metrics(record, comm, weight=1.0):
    """`record` (a dict of numbers) averaged over ranks, weighted by `weight` (one ``Allreduce``).

    Every rank must pass the same keys (checked: ValueError on every rank).
    """
    keys = sorted(record)
    all_keys = comm.allgather(keys)
    if any(k != keys for k in all_keys):
        raise ValueError(f"metrics differ between ranks: {all_keys}")
    buffer = np.array([float(record[k]) * weight for k in keys] + [float(weight)])
    comm.Allreduce(_mpi().IN_PLACE, buffer, op=_mpi().SUM)
    return {k: float(buffer[i] / buffer[-1]) for i, k in enumerate(keys)}


def shuffle_generator(seed, rank, size):
    """The generator rank `rank` of `size` shuffles its shard with (from the network's seed).

    ``SeedSequence(seed, spawn_key=(1, size, rank))``: independent streams per
    rank, reproducible from the seed (the network itself uses spawn keys (0,)
    and (1,) for its initial weights and its one-process shuffling).
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, size, rank)))


def shard(X, y, comm):
    """This rank's contiguous block of ``(X, y)``: ``N // size`` samples each.

    The last ``N % size`` samples are left out, so every rank holds the same
    number (the data-parallel contract).
    """
    rank, size = comm.Get_rank(), comm.Get_size()
    per_rank = len(X) // size
    if per_rank < 1:
        raise ValueError(f"{len(X)} samples cannot be shared among {size} ranks")
    rows = slice(rank * per_rank, (rank + 1) * per_rank)
    return X[rows], y[rows]


@contextlib.contextmanager
def abort_on_error(comm):
    """Inside the block, an exception on any rank prints its traceback and ends the
    whole job (``comm.Abort(1)``) instead of leaving the other ranks waiting."""
    try:
        yield
    except BaseException:
        if comm is not None and comm.Get_size() > 1:
            _report_and_abort(comm)
        raise


def _report_and_abort(comm):
    """Print this rank's traceback in one write, give the launcher a moment to pass
    it on, then end the whole job: ``MPI_Abort`` kills the ranks at once, and text
    the launcher has not yet forwarded from a rank is lost."""
    report = (f"pyx_cnn.mpi: rank {comm.Get_rank()} failed, aborting the job\n"
              + traceback.format_exc())
    sys.stderr.write(report)
    sys.stderr.flush()
    time.sleep(_ABORT_GRACE_SECONDS)
    comm.Abort(1)


class AveragingOptimizer:
    """An optimiser whose ``step`` first averages the gradient over the ranks.

    Wraps the network's own optimiser (whose state it uses and keeps); with it,
    :meth:`NeuralNetwork.fit` trains data-parallel unchanged.
    """

    def __init__(self, optimizer, comm):
        self.inner, self.comm = optimizer, comm

    @property
    def name(self):
        return self.inner.name

    def step(self, params, grads, learning_rate):
        allreduce_gradients(grads, self.comm)
        self.inner.step(params, grads, learning_rate)

    def __getattr__(self, attribute):
        return getattr(self.inner, attribute)


_rank_generators = weakref.WeakKeyDictionary()


class DataParallel:
    """The hooks of ``fit(..., comm=comm)``.

    ``run(fit)`` calls ``fit()`` (the training of this rank) and handles its
    failures for all ranks: an exception raised before the ranks compared
    their arguments is sent to that comparison, which raises it on every rank;
    one raised after they agreed ends the job (:meth:`abort`).

    Inside ``fit``: ``start(net, X, y, **settings)`` right after the argument
    checks and before anything changes: compares the ranks' shards and
    settings (:func:`agree_on_arguments`), then broadcasts rank 0's weights
    and gives the network its rank's shuffling generator (kept for later
    fits). ``averaging(optimizer)`` is the optimiser that averages the
    gradients before each step. Per epoch, ``reduce_metrics(record)`` averages
    the history entry and ``stop_together(flag)`` makes a callback's
    ``stop_training`` on one rank stop every rank; ``should_print()`` is True
    on rank 0 only. These are the methods of
    :class:`pyx_cnn.training_loop.OneProcess`, the training of one process.
    """

    def __init__(self, comm):
        self.comm = check_comm(comm)
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.checked = False     # the ranks have compared their arguments
        self.accepted = False    # ... and every rank's were accepted

    def run(self, fit):
        """``fit()``, with its failures handled for every rank (see the class)."""
        try:
            return fit()
        except Exception as exc:
            if not self.checked:
                # refused on this rank before the comparison the other ranks wait in:
                # take part in it with this error, which every rank then raises
                self.agree(error=exc)
            if self.accepted:
                self.abort()
            raise
        except BaseException:
            self.abort()
            raise

    def agree(self, error=None, X=None, y=None, settings=None):
        """:func:`agree_on_arguments` (once per fit): returns when every rank's
        arguments were accepted and agree, else raises on every rank."""
        self.checked = True
        n_total = agree_on_arguments(self.comm, error, X, y, settings)
        self.accepted = True
        return n_total

    def start(self, net, X, y, **settings):
        """Agree on the arguments, then take rank 0's weights and this rank's shuffling."""
        self.agree(X=X, y=y, settings={k: setting(v) for k, v in settings.items()})
        broadcast_parameters(net, self.comm)
        key = (self.size, self.rank)
        known = _rank_generators.get(net)
        if known is None or known[0] != key:
            # rank 0's seed for every rank (as its weights): the global order of the
            # samples then depends on rank 0's network alone
            seed = net.seed if net.seed is not None else np.random.SeedSequence().entropy
            seed = self.comm.bcast(seed if self.rank == 0 else None, root=0)
            known = (key, shuffle_generator(seed, self.rank, self.size))
            _rank_generators[net] = known
        net.shuffle_rng = known[1]
        return self

    def averaging(self, optimizer):
        """`optimizer` wrapped to average the gradients over the ranks before each step."""
        return AveragingOptimizer(optimizer, self.comm)

    def reduce_metrics(self, record, val_weight=1.0):
        """The epoch's record averaged over ranks (training keys equally, as every
        rank holds N samples; ``val_*`` keys weighted by `val_weight`, e.g. the
        rank's number of validation samples)."""
        train = {k: v for k, v in record.items() if not k.startswith("val_")}
        val = {k: v for k, v in record.items() if k.startswith("val_")}
        out = average_metrics(train, self.comm)
        if val:
            out.update(average_metrics(val, self.comm, weight=val_weight))
        return {k: out[k] for k in record}

    def stop_together(self, stop):
        """True on every rank when `stop` is True on any (one ``allgather``)."""
        return any(self.comm.allgather(bool(stop)))

    def should_print(self):
        return self.rank == 0

    def abort(self):
        """End the whole job (``MPI_Abort``): a failure on one rank would leave the others
        waiting in the next collective."""
        if self.size > 1:
            _report_and_abort(self.comm)


def fit_data_parallel(net, X, y, comm, **fit_kwargs):
    """``net.fit(X, y, comm=comm, **fit_kwargs)``: data-parallel training over `comm`.

    `X`, `y` are this rank's shard (see the module's contract); rank 0's
    weights are broadcast, every step averages the gradients over the ranks,
    each rank shuffles with its own generator, the returned History holds the
    metrics averaged over ranks, and only rank 0 shows the progress bar.

    Raises
    ------
    TypeError, ValueError
        On every rank when one rank's arguments are refused (`net` not a
        NeuralNetwork, an unknown keyword, or any of fit's checks), naming the
        lowest such rank, or when the ranks' shards or settings differ;
        nothing has changed then. An exception on one rank once training has
        started aborts the job (``MPI_Abort``).
    """
    from .network import NeuralNetwork

    dp = DataParallel(comm)
    error = None
    if not isinstance(net, NeuralNetwork):
        error = TypeError(f"net must be a pyx_cnn NeuralNetwork, got {type(net).__name__}")
    else:
        try:
            inspect.signature(net.fit).bind(X, y, comm=comm, **fit_kwargs)
        except TypeError as exc:
            error = TypeError(f"fit() {exc}")
    if error is not None:
        # the other ranks wait in fit's comparison of the arguments: take part with the error
        dp.agree(error=error)
    return net.fit(X, y, comm=comm, **fit_kwargs)
