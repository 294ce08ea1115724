"""The batch loops choose between n threads and one by timing their steps
(pyx_cnn/_thread_choice.py). The choice is tested on given step times (no clock),
then inside fit / predict, where a step must see the count it was given."""
import threading

import numpy as np
import pytest

import pyx_cnn
from pyx_cnn import NeuralNetwork, layers
from pyx_cnn import _thread_choice
from pyx_cnn._thread_choice import StepThreads, step_threads
from pyx_cnn._threads import _always_split, _limit_threads, _openmp_enabled


def _steps(chooser, seconds_for, steps):
    """Run `steps` steps whose time is seconds_for(count, i); the counts used."""
    used = []
    for i in range(steps):
        count = chooser.count()
        used.append(count)
        chooser.record(count, seconds_for(count, i))
    return used


def test_stays_on_n_threads_when_they_are_faster_and_probes_less_and_less():
    chooser = StepThreads(4)
    used = _steps(chooser, lambda count, i: 1.0 if count == 4 else 2.5, 1000)
    probes = [i for i, count in enumerate(used) if count == 1]
    assert used[0] == 4 and chooser.running == 4
    # a probe is two steps: one warming the other count up (not compared), one timed
    assert probes[1::2] == [p + 1 for p in probes[::2]]
    # the first probe comes early (step 3), then the gaps double up to 256 steps
    assert probes[0] == 3
    assert list(np.diff(probes[::2])) == [34, 66, 130, 258, 258]
    assert len(probes) <= 16           # under 2 % of 1000 steps after the first few


def test_a_probe_compares_its_warm_step_only():
    # a probe's first step is slow (the other count's threads and caches are cold),
    # its second is fast: the loop moves to n threads on the warm steps
    chooser = StepThreads(2)
    chooser.running = 1
    last = {"count": 1}

    def seconds(count, i):
        cold = count != last["count"]
        last["count"] = count
        if count == 2:
            return 1.5 if cold else 0.6
        return 1.0

    used = _steps(chooser, seconds, 100)
    assert chooser.running == 2 and used[-50:].count(1) <= 2


def test_moves_to_one_thread_within_a_few_steps_when_n_get_slow():
    chooser = StepThreads(2)
    # quiet for 300 steps, then a core is taken: 2 threads take 3x as long as 1
    slow_from = 300

    def seconds(count, i):
        if count == 1:
            return 1.0
        return 0.6 if i < slow_from else 3.0

    used = _steps(chooser, seconds, 600)
    assert used[slow_from - 1] == 2
    assert all(count == 1 for count in used[slow_from + 3:slow_from + 16])
    # afterwards only the probes run on 2 threads: at most 1 step in 16
    assert used[slow_from + 3:].count(2) <= (600 - slow_from) // 16


def test_goes_back_to_n_threads_when_the_core_is_free_again():
    chooser = StepThreads(2)

    def seconds(count, i):
        if count == 1:
            return 1.0
        return 3.0 if i < 200 else 0.6

    used = _steps(chooser, seconds, 800)
    assert used[150] == 1
    # the probes came at most 256 steps apart: 2 threads are back before step 200 + 257,
    # with only the probes of one thread after
    assert used[460] == 2
    assert used[460:].count(1) <= len(used[460:]) // 16


def test_noise_within_the_margin_does_not_switch():
    rng = np.random.default_rng(0)
    chooser = StepThreads(2)
    # 2 threads 1.0 +- 3 %, one thread 1.02 +- 3 %: never 10 % apart
    used = _steps(chooser, lambda count, i: (1.0 if count == 2 else 1.02) * rng.uniform(0.97, 1.03),
                  500)
    assert chooser.running == 2
    assert used.count(1) <= 16         # probes of two steps


def test_one_lucky_probe_does_not_switch():
    chooser = StepThreads(2)
    lucky = set()

    def seconds(count, i):
        if count == 2:
            return 1.0
        # one thread is 10 % slower, but its first probe is lucky
        if not lucky:
            lucky.add(i)
            return 0.5
        return 1.1

    used = _steps(chooser, seconds, 300)
    first = min(lucky)
    assert used[first + 1] == 1          # a second probe, at once, decides...
    assert used[first + 2] == 2          # ...and loses: no switch
    assert chooser.running == 2
    assert used.count(1) <= 16         # probes of two steps


def test_one_thread_wins_at_a_smaller_margin_than_n_threads():
    # one thread 5 % faster: the loop moves to it (n threads must pay for themselves)
    chooser = StepThreads(2)
    used = _steps(chooser, lambda count, i: 0.95 if count == 1 else 1.0, 300)
    assert chooser.running == 1 and used[-50:].count(2) <= 2
    # n threads 5 % faster: not enough to leave one thread
    chooser = StepThreads(2)
    chooser.running = 1
    used = _steps(chooser, lambda count, i: 0.95 if count == 2 else 1.0, 300)
    assert chooser.running == 1


def test_the_first_step_is_not_timed():
    chooser = StepThreads(2)
    chooser.record(2, 100.0)            # first call: allocation, warm-up
    assert not chooser.times[2]
    chooser.record(2, 1.0)
    assert list(chooser.times[2]) == [1.0]


def test_one_thread_has_nothing_to_choose():
    previous = pyx_cnn.get_num_threads()
    pyx_cnn.set_num_threads(1)
    try:
        owner = object.__new__(type("Owner", (), {}))
        assert step_threads(owner, "fit", (8, 4)) is _thread_choice._ONE
        assert owner not in _thread_choice._choosers
    finally:
        pyx_cnn.set_num_threads(previous)


@pytest.mark.skipif(not _openmp_enabled(), reason="built without OpenMP: always one thread")
def test_the_limit_holds_in_the_calling_python_thread_only():
    previous = pyx_cnn.get_num_threads()
    pyx_cnn.set_num_threads(3)
    seen = {}
    try:
        with _limit_threads(1):
            seen["inside"] = pyx_cnn.get_num_threads()
            other = threading.Thread(target=lambda: seen.update(other=pyx_cnn.get_num_threads()))
            other.start()
            other.join()
            with _limit_threads(2):          # a nested limit never raises the count
                seen["nested"] = pyx_cnn.get_num_threads()
        seen["after"] = pyx_cnn.get_num_threads()
    finally:
        pyx_cnn.set_num_threads(previous)
    assert seen == {"inside": 1, "other": 3, "nested": 1, "after": 3}


class _CountingIdentity(layers.Layer):
    """Passes its input on and notes the thread count each forward pass sees."""

    def __init__(self):
        super().__init__()
        self.counts = []

    def compute_output_shape(self, input_shape):
        return input_shape

    def forward(self, x, training=False):
        self.counts.append(pyx_cnn.get_num_threads())
        return x

    def backward(self, grad_out):
        return grad_out


def _probed_network():
    """(probe, network, X, y): a small network with a _CountingIdentity after its first
    layer, and 40 samples for it."""
    probe = _CountingIdentity()
    net = NeuralNetwork([layers.Conv2D(2, 3), probe, layers.Flatten(), layers.Dense(3)],
                        input_shape=(6, 6, 1), seed=0)
    X = np.random.default_rng(0).random((40, 6, 6, 1))
    return probe, net, X, np.arange(40) % 3


@pytest.mark.skipif(not _openmp_enabled(), reason="built without OpenMP: always one thread")
@pytest.mark.parametrize("loop", ["fit", "predict"])
def test_a_step_runs_on_the_count_its_loop_chose(loop, monkeypatch):
    previous = pyx_cnn.get_num_threads()
    pyx_cnn.set_num_threads(2)
    probe, net, X, y = _probed_network()
    # the chooser is told that one thread is 10x faster: after its first probe of one
    # thread, every step runs on one thread, and the kernels see 1
    real_record = StepThreads.record

    def record(self, count, seconds):
        real_record(self, count, 0.1 if count == 1 else 1.0)

    monkeypatch.setattr(StepThreads, "record", record)
    try:
        # the kernels split their work, however small (else the loop stops choosing)
        with _always_split():
            if loop == "fit":
                net.fit(X, y, epochs=3, batch_size=4, learning_rate=0.01, verbose=0)
            else:
                for _ in range(30):
                    net.predict(X[:4], batch_size=4)
    finally:
        pyx_cnn.set_num_threads(previous)
    counts = probe.counts
    assert counts[0] == 2 and 1 in counts
    first_one = counts.index(1)
    assert first_one <= 4
    later = counts[first_one:]
    # from then on one thread, but for the probes of two (one in 16 steps or fewer)
    assert later.count(2) <= len(later) // 16 + 1
    chooser, = _thread_choice._choosers[net].values()
    assert chooser.running == 1


@pytest.mark.skipif(not _openmp_enabled(), reason="built without OpenMP: always one thread")
def test_results_do_not_depend_on_the_choice(monkeypatch):
    """The same fit, once with every step on one thread and once on two (the kernels made
    to split their work however small it is, so the two runs really differ)."""
    X = np.random.default_rng(1).random((64, 8, 8, 2)).astype(np.float32)
    y = np.arange(64) % 4
    real_record = StepThreads.record
    weights = []
    for fast in (1, 2):
        monkeypatch.setattr(StepThreads, "record", lambda self, count, seconds, fast=fast:
                            real_record(self, count, 0.1 if count == fast else 1.0))
        net = NeuralNetwork([layers.Conv2D(8, 3), layers.ReLU(), layers.MaxPool2D(2, 2),
                             layers.Flatten(), layers.Dense(4)], input_shape=(8, 8, 2),
                            seed=0, dtype="float32")
        previous = pyx_cnn.get_num_threads()
        pyx_cnn.set_num_threads(2)
        try:
            with _always_split():
                net.fit(X, y, epochs=2, batch_size=8, learning_rate=0.05, verbose=0)
        finally:
            pyx_cnn.set_num_threads(previous)
        chooser, = _thread_choice._choosers[net].values()
        assert chooser.running == fast
        weights.append(net.flat_params.copy())
    np.testing.assert_array_equal(weights[0], weights[1])


@pytest.mark.skipif(not _openmp_enabled(), reason="built without OpenMP: always one thread")
@pytest.mark.parametrize("split", [False, True])
def test_a_loop_whose_kernels_split_nothing_stops_choosing(split, monkeypatch):
    """Steps too small for a second thread in every kernel run as they come, on the
    count they were given, untimed and never probed on one thread; a loop whose kernels
    split their work keeps timing and probing."""
    previous = pyx_cnn.get_num_threads()
    pyx_cnn.set_num_threads(2)
    probe, net, X, y = _probed_network()
    recorded = []
    real_record = StepThreads.record
    monkeypatch.setattr(StepThreads, "record", lambda self, count, seconds: (
        recorded.append(count), real_record(self, count, seconds)))
    try:
        if split:
            with _always_split():
                net.fit(X, y, epochs=5, batch_size=4, learning_rate=0.01, verbose=0)
        else:
            net.fit(X, y, epochs=5, batch_size=4, learning_rate=0.01, verbose=0)
    finally:
        pyx_cnn.set_num_threads(previous)
    chooser, = _thread_choice._choosers[net].values()
    assert chooser.settled is not split
    if split:
        assert 1 in probe.counts and len(recorded) >= 40
    else:
        assert probe.counts == [2] * 50 and recorded == []
