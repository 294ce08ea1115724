"""Run under ``mpiexec -n 2``: an argument refused on one rank is refused on every rank.

``python mpi_agree_check.py API CASE``: API is ``fit`` (``net.fit(..., comm=comm)``)
or ``fdp`` (:func:`pyx_cnn.mpi.fit_data_parallel`); CASE changes one rank's
arguments (see ``CASES``). In the cases of ``ONE_RANK_REFUSES`` a rank whose
arguments are bad first prints ``rank R alone raises TYPE: MESSAGE``, what a
one-process fit (``epochs=0``) raises for them. Every rank then prints ``rank R raised TYPE:
MESSAGE`` or ``rank R trained E epochs``, then ``rank R unchanged: True|False``
after an error (whether its network kept its weights, optimiser and epoch
count), and exits: 3 after an error, 0 after training. A rank that waits
forever for the others makes the caller's timeout fail the test.
"""
import sys

import numpy as np
from mpi4py import MPI

from pyx_cnn import callbacks as pcb
from pyx_cnn import mpi as pmpi
from mpi_fit_check import data, make_net


class RaiseOnTrainBegin(pcb.Callback):
    def on_train_begin(self, logs=None):
        raise RuntimeError("this callback fails on its rank only")


class StopAfterFirstEpoch(pcb.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


def _labels_out_of_range(rank, kw):
    if rank == 1:
        kw["y"] = kw["y"].copy()
        kw["y"][-1] = 12


def _three_channels(rank, kw):
    if rank == 1:
        kw["X"] = np.concatenate([kw["X"], kw["X"][..., :1]], axis=-1)


def _nan_learning_rate(rank, kw):
    if rank == 0:
        kw["learning_rate"] = float("nan")


def _strings(rank, kw):
    if rank == 1:
        kw["X"] = kw["X"].astype(str)


def _both_ranks(rank, kw):
    _nan_learning_rate(rank, kw)
    _labels_out_of_range(rank, kw)


def _bad_validation_data(rank, kw):
    if rank == 1:
        kw["validation_data"] = (np.zeros((3, 6, 6, 3)), kw["y"][:3])


def _not_a_callback(rank, kw):
    if rank == 1:
        kw["callbacks"] = [object()]


def _one_sample_fewer(rank, kw):
    kw["optimizer"] = "adam"       # a refused call must not replace the optimiser
    if rank == 1:
        kw["X"], kw["y"] = kw["X"][:-1], kw["y"][:-1]


def _more_epochs(rank, kw):
    if rank == 1:
        kw["epochs"] = 3


def _larger_batches(rank, kw):
    if rank == 1:
        kw["batch_size"] = 8


def _validation_on_rank_0(rank, kw):
    if rank == 0:
        kw["validation_data"] = (kw["X"][:4], kw["y"][:4])


def _other_learning_rate(rank, kw):
    if rank == 1:
        kw["learning_rate"] = 0.5


def _batch_larger_than_shard(rank, kw):
    kw["batch_size"] = 50          # every rank holds 20 samples: one batch per epoch


def _failing_callback_on_rank_0(rank, kw):
    if rank == 0:
        kw["callbacks"] = [RaiseOnTrainBegin()]


def _stop_on_rank_0(rank, kw):
    kw["epochs"] = 3
    if rank == 0:
        kw["callbacks"] = [StopAfterFirstEpoch()]


def _unknown_keyword(rank, kw):
    if rank == 1:
        kw["epoch"] = 2


def _not_a_network(rank, kw):
    if rank == 1:
        kw["net"] = "not a network"


#: the cases where some rank's arguments are bad in themselves
ONE_RANK_REFUSES = ("label1", "channels1", "lr0", "dtype1", "both", "val1", "callback1")

CASES = {
    "label1": _labels_out_of_range, "channels1": _three_channels, "lr0": _nan_learning_rate,
    "dtype1": _strings, "both": _both_ranks, "val1": _bad_validation_data,
    "callback1": _not_a_callback, "size1": _one_sample_fewer, "epochs1": _more_epochs,
    "batch1": _larger_batches, "valonly0": _validation_on_rank_0,
    "rate1": _other_learning_rate, "bigbatch": _batch_larger_than_shard,
    "begin0": _failing_callback_on_rank_0, "stop0": _stop_on_rank_0,
    # fit_data_parallel only
    "kwarg1": _unknown_keyword, "notnet1": _not_a_network,
}


def say(line):
    """One line in one write (the launcher interleaves the ranks' writes)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(api, case):
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    X, y = data(40)
    xs, ys = pmpi.shard(X, y, comm)
    net = make_net()
    kw = dict(net=net, X=xs, y=ys, epochs=2, batch_size=4, learning_rate=0.05)
    CASES[case](rank, kw)
    net = kw.pop("net")
    if case in ONE_RANK_REFUSES:
        # the reference: what this rank's arguments get from a fit of its own
        alone = dict(kw, epochs=0)
        try:
            make_net().fit(alone.pop("X"), alone.pop("y"), **alone)
        except Exception as exc:
            say(f"rank {rank} alone raises {type(exc).__name__}: {exc}")
    before = (make_net().flat_params.copy(), make_net().optimizer.name, 0)
    try:
        if api == "fit":
            history = net.fit(kw.pop("X"), kw.pop("y"), comm=comm, **kw)
        else:
            history = pmpi.fit_data_parallel(net, kw.pop("X"), kw.pop("y"), comm, **kw)
    except Exception as exc:
        say(f"rank {rank} raised {type(exc).__name__}: {exc}")
        if isinstance(net, type(make_net())):
            unchanged = (np.array_equal(net.flat_params, before[0])
                         and net.optimizer.name == before[1]
                         and net.epochs_done == before[2])
            say(f"rank {rank} unchanged: {unchanged}")
        return 3
    say(f"rank {rank} trained {len(history.epoch)} epochs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
