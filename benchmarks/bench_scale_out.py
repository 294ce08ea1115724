"""Past one machine, on one machine: what data parallelism and dask cost per step.

1. Training, the CIFAR-style network of ``bench_training.py`` (float32, 2048
   samples, global batch 64, SGD): one process with 2 threads against 2 MPI
   ranks (``mpiexec -n 2``) of 1 thread each, 32 samples per rank per step,
   the gradient averaged with one Allreduce per step
   (:func:`pyx_cnn.mpi.fit_data_parallel`). The allreduce alone is timed too.
2. Inference, ``predict`` of 4096 samples: in process (2 threads) against
   :func:`pyx_cnn.dask_arrays.predict` on a ``distributed.LocalCluster`` of 2
   workers x 1 thread, 8 chunks of 512.

Medians of `--rounds` epochs (after one warm-up). Run
``python benchmarks/bench_scale_out.py`` (it starts ``mpiexec`` itself).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import pyx_cnn  # noqa: E402
from bench_training import _data, cifar_net  # noqa: E402

N_TRAIN = 2048
GLOBAL_BATCH = 64
LEARNING_RATE = 0.01
N_PREDICT = 4096


def _epochs(fit_one, rounds):
    fit_one()  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fit_one()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def one_process(rounds, threads=2):
    pyx_cnn.set_num_threads(threads)
    net = cifar_net(0)
    x, y = _data(net, N_TRAIN, 0)
    return _epochs(lambda: net.fit(x, y, epochs=1, batch_size=GLOBAL_BATCH,
                                   learning_rate=LEARNING_RATE), rounds)


def mpi_rank(rounds):
    """Under mpiexec: every rank trains its shard; rank 0 prints one JSON line."""
    from mpi4py import MPI

    from pyx_cnn import mpi as pmpi

    comm = MPI.COMM_WORLD
    size = comm.Get_size()
    pyx_cnn.set_num_threads(1)
    net = cifar_net(0)
    x, y = _data(net, N_TRAIN, 0)
    xs, ys = pmpi.shard(x, y, comm)

    def fit_one():
        comm.Barrier()
        pmpi.fit_data_parallel(net, xs, ys, comm, epochs=1, batch_size=GLOBAL_BATCH // size,
                               learning_rate=LEARNING_RATE)
        comm.Barrier()

    epoch = _epochs(fit_one, rounds)
    grad = np.zeros_like(net.flat_grads)
    comm.Barrier()
    start = time.perf_counter()
    for _ in range(200):
        pmpi.allreduce_gradients(grad, comm)
    allreduce = (time.perf_counter() - start) / 200
    if comm.Get_rank() == 0:
        print(json.dumps({"epoch": epoch, "allreduce": allreduce, "ranks": size,
                          "params": int(net.flat_params.size)}), flush=True)


def mpi_run(rounds, ranks=2):
    mpiexec = Path(sys.executable).parent / "mpiexec"
    mpiexec = str(mpiexec) if mpiexec.exists() else "mpiexec"
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([mpiexec, "-n", str(ranks), sys.executable, __file__, "--rank",
                          "--rounds", str(rounds)], capture_output=True, text=True, env=env,
                         timeout=1800, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def dask_predict(rounds):
    import dask.array as da
    import distributed

    from pyx_cnn import dask_arrays as pda

    pyx_cnn.set_num_threads(2)
    net = cifar_net(0)
    x, _ = _data(net, N_PREDICT, 1)
    in_process = _epochs(lambda: net.predict(x), rounds)
    os.environ["PYTHONPATH"] = str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        # the data generated on the workers: what is measured is the predict, not shipping X
        lazy_x = da.random.default_rng(1).random((N_PREDICT,) + tuple(net.input_shape),
                                                  chunks=(512, 32, 32, 3), dtype=np.float32)
        lazy_x = lazy_x.persist()
        distributed.wait(lazy_x)
        on_cluster = _epochs(lambda: pda.predict(net, lazy_x).compute(), rounds)
        # the same, fetching nothing back: a reduction of the predictions
        reduced = _epochs(lambda: pda.predict_classes(net, lazy_x).sum().compute(), rounds)
        client.close()
    return in_process, on_cluster, reduced


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rank", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank:
        mpi_rank(args.rounds)
        return
    steps = N_TRAIN // GLOBAL_BATCH
    single = one_process(args.rounds)
    ranks = mpi_run(args.rounds)
    in_process, on_cluster, reduced = dask_predict(args.rounds)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(f"CIFAR-style net, {ranks['params']} parameters, float32, {N_TRAIN} samples, "
          f"global batch {GLOBAL_BATCH} ({steps} steps/epoch), median of {args.rounds}")
    rows = [
        ("1 process x 2 threads, batch 64", single, single / steps),
        (f"{ranks['ranks']} ranks x 1 thread, 32 per rank (mpiexec)", ranks["epoch"],
         ranks["epoch"] / steps),
    ]
    print(f"{'training':<48} {'epoch s':>9} {'ms/step':>9}")
    for name, epoch, step in rows:
        print(f"{name:<48} {epoch:9.3f} {step * 1e3:9.2f}")
    print(f"{'  of which one Allreduce of the gradient':<48} {'':>9} "
          f"{ranks['allreduce'] * 1e3:9.3f}")
    print(f"{'predict, ' + str(N_PREDICT) + ' samples':<48} {'s':>9} {'ms/chunk':>9}")
    for name, seconds in (("in process, 2 threads", in_process),
                          ("dask, 2 workers x 1 thread, 8 chunks", on_cluster),
                          ("dask, same, predictions reduced on workers", reduced)):
        print(f"{name:<48} {seconds:9.3f} {seconds / 8 * 1e3:9.1f}")


if __name__ == "__main__":
    main()
