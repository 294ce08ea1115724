"""Run under ``mpiexec -n 2``: data-parallel training of a graph network (a shared
convolution, a tensor read by several layers, Add and Concatenate) against one process
on the global batches, by the checks of ``mpi_fit_check.py`` (weights to 1e-12, every
rank's weights and history identical). Prints OK on rank 0 when they hold."""
import sys

from mpi4py import MPI

import mpi_fit_check
from pyx_cnn import NeuralNetwork, layers


def graph_net(seed=3):
    x = layers.Input((6, 6, 2))
    stem = layers.Conv2D(3, 3, padding=1, activation="relu")(x)
    shared = layers.Conv2D(3, 3, padding=1)
    h = shared(layers.ReLU()(shared(stem)))
    s = layers.ReLU()(layers.Add()([h, stem]))
    c = layers.MaxPool2D(2, 2)(layers.Concatenate()([s, x]))
    out = layers.Dense(5, activation="softmax")(layers.Flatten()(c))
    return NeuralNetwork(inputs=x, outputs=out, seed=seed)


def main():
    comm = MPI.COMM_WORLD
    mpi_fit_check.make_net = graph_net
    ok = True
    for optimizer, shuffle in (("sgd", True), ("adam", False)):
        ok = mpi_fit_check.check_train(comm, optimizer, shuffle, epochs=2) and ok
    ok = comm.bcast(ok, root=0)
    if comm.Get_rank() == 0:
        print("OK" if ok else "FAILED", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
