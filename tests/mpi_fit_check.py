"""Run under ``mpiexec -n 2``: data-parallel training against one process on the global batches.

``python mpi_fit_check.py train``: every rank trains its shard (float64, 3
epochs) with :func:`pyx_cnn.mpi.fit_data_parallel`; rank 0 gathers every
rank's final weights and history, trains one process on the same global
batches (batch b = the concatenation over ranks of each rank's batch b, in
each rank's shuffled order) and exits 1 unless the weights agree to 1e-12 and
every rank ends bitwise identical. ``fail``: rank 1 raises in training (a NaN
in its shard); the job must end with an error, not hang. ``mismatch``: the
shards differ in size; every rank must raise the same ValueError.
"""
import sys

import numpy as np
from mpi4py import MPI

from pyx_cnn import NeuralNetwork, layers
from pyx_cnn import mpi as pmpi


def make_net(seed=3):
    return NeuralNetwork([
        layers.Conv2D(4, 3, padding=1), layers.ReLU(), layers.MaxPool2D(2, 2),
        layers.Flatten(), layers.Dense(5, activation="softmax"),
    ], input_shape=(6, 6, 2), seed=seed)


def data(n_total, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_total, 6, 6, 2)), rng.integers(0, 5, n_total)


def global_epoch_order(shards, orders, batch_size):
    """Rows of the global epoch: for each batch b, rank 0's batch b, rank 1's, ..."""
    xs, ys = [], []
    n = len(shards[0][0])
    for start in range(0, n, batch_size):
        for (x, y), order in zip(shards, orders):
            rows = order[start:start + batch_size]
            xs.append(x[rows])
            ys.append(y[rows])
    return np.concatenate(xs), np.concatenate(ys)


def check_train(comm, optimizer, shuffle, epochs=3, batch_size=7, n_total=90):
    rank, size = comm.Get_rank(), comm.Get_size()
    X, y = data(n_total)
    xs, ys = pmpi.shard(X, y, comm)
    net = make_net(seed=3 + rank)          # different seeds: the broadcast must fix that
    history = net.fit(xs, ys, comm=comm, epochs=epochs, batch_size=batch_size,
                      learning_rate=0.05, optimizer=optimizer, shuffle=shuffle)
    weights = comm.gather(net.flat_params.copy(), root=0)
    histories = comm.gather(history.history, root=0)
    if rank != 0:
        return True
    shards = [(X[r * (n_total // size):(r + 1) * (n_total // size)],
               y[r * (n_total // size):(r + 1) * (n_total // size)]) for r in range(size)]
    n = len(shards[0][0])
    generators = [pmpi.shuffle_generator(3, r, size) for r in range(size)]
    ref = make_net(seed=3)
    ref.optimizer = __import__("pyx_cnn.optim", fromlist=["x"]).get_optimizer(optimizer)
    ref_loss = []
    for _ in range(epochs):
        orders = [g.permutation(n) if shuffle else np.arange(n) for g in generators]
        xe, ye = global_epoch_order(shards, orders, batch_size)
        h = ref.fit(xe, ye, epochs=1, batch_size=batch_size * size, learning_rate=0.05,
                    shuffle=False)
        ref_loss.append(h.history["loss"][0])
    ok = True
    for r in range(1, size):
        if not np.array_equal(weights[r], weights[0]):
            print(f"rank {r}'s weights differ from rank 0's", flush=True)
            ok = False
    diff = np.abs(weights[0] - ref.flat_params).max()
    moved = np.abs(weights[0] - make_net(seed=3).flat_params).max()
    loss_diff = np.abs(np.array(histories[0]["loss"]) - ref_loss).max()
    print(f"{optimizer} shuffle={shuffle}: max |w - w_ref| = {diff:.3g} "
          f"(weights moved by {moved:.3g}), max |loss - loss_ref| = {loss_diff:.3g}", flush=True)
    if not (diff <= 1e-12 and moved > 1e-3 and loss_diff <= 1e-12):
        ok = False
    for r in range(1, size):
        if histories[r] != histories[0]:
            print(f"rank {r}'s history differs from rank 0's", flush=True)
            ok = False
    return ok


def main(mode):
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    if mode == "train":
        ok = True
        for optimizer, shuffle in (("sgd", False), ("sgd", True), ("adam", True),
                                   ("momentum", False)):
            ok = check_train(comm, optimizer, shuffle) and ok
        ok = comm.bcast(ok, root=0)
        if rank == 0:
            print("OK" if ok else "FAILED", flush=True)
        return 0 if ok else 1
    if mode == "fail":
        X, y = data(40)
        xs, ys = pmpi.shard(X, y, comm)
        if rank == 1:
            xs = xs.copy()
            xs[5] = np.nan
        make_net().fit(xs, ys, comm=comm, epochs=2, batch_size=4, shuffle=False)
        return 0
    if mode == "mismatch":
        X, y = data(40)
        xs, ys = pmpi.shard(X, y, comm)
        if rank == 1:
            xs, ys = xs[:-1], ys[:-1]
        try:
            pmpi.check_shards(xs, ys, comm)
        except ValueError as exc:
            print(f"rank {rank}: ValueError: {exc}", flush=True)
            return 3
        return 0
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
