"""Threads that pay for themselves: the batch loops of ``fit``, ``predict``,
``evaluate`` and ``gradient_descent`` time their steps and run each on the
thread count that has been faster there lately.

The cost model in ``_threads.pyx`` decides how many threads each kernel is
worth on a quiet machine. It cannot see another program holding a core: a
parallel region then waits, at its end, for the thread whose core was taken
(for a time slice of the scheduler, milliseconds), and two threads can be
several times slower than one. A loop over batches repeats the same work, so
it can measure instead: it runs its steps on ``n = get_num_threads()``
threads and, now and then, a probe on the other count (1 when it runs on n, n
when it runs on 1): two steps, the first of which only warms the other count up
(its threads start, its caches fill) and is not compared. The count whose last
steps were faster runs the steps in between:

- the running count's time is the median of its last three steps; the other
  count's is its latest probe's timed step;
- the loop changes count when the other's time is below 0.9 of the running
  count's, to n threads, or below 0.97 of it, to one: threads must pay for
  themselves, and the margins keep noise from switching back and forth. A probe
  alone never switches: when the other count looks faster (its last probe
  against the running count's time, after each step), one more probe runs at
  the next step, and the loop switches only if that one is faster too (a single
  lucky step switched a digits epoch's loop back and forth every few steps,
  half its steps on the slower count);
- a probe that does not win makes the next one wait twice as long (16, 32,
  ... up to 256 steps): on a quiet machine the probes of the slower count cost
  under 1 % of the steps' time; a switch starts again at 16.

A loop stops choosing when a step on n threads split nothing: every kernel
of it found its work too small for a second thread (the cost model's answer, the
same at every step of the same batch shape), so the step runs the same on one
thread, and the loop runs its steps as they come, untimed (the digits network's
steps: 3 us a step of timing and probes saved, on 70).

A step's result never depends on the count (the kernels split their work on a
grid fixed by the shape), only its time does. Only steps of the same batch
shape are compared: each network keeps one chooser per loop kind and batch
shape (for as long as the network lives). Nothing is timed when the count is
1 (``set_num_threads(1)``, a build without OpenMP).
"""
import time
import weakref
from collections import deque

from ._threads import _set_limit, _split_count, get_num_threads

_FIRST_PROBE = 2          # steps before the first probe (the first step is not timed)
_PROBE_AFTER = 16         # steps between probes after a switch
_MOST_STEPS_BETWEEN = 256
_MARGIN = 0.9             # n threads must beat one by 10 %
_MARGIN_TO_ONE = 0.97     # one thread must beat n by 3 %
_KEPT = 3                 # steps of the running count whose median is its time

# network -> {(kind, batch shape, n): StepThreads}; an entry goes with its network
_choosers = weakref.WeakKeyDictionary()


class StepThreads:
    """Chooses, step by step, between `n` threads and one; see the module's text.

    Parameters
    ----------
    n : int
        The thread count the steps may use (>= 2).
    """

    def __init__(self, n):
        self.n = n
        self.running = n
        self.times = {1: deque(maxlen=_KEPT), n: deque(maxlen=_KEPT)}
        self.between = _PROBE_AFTER
        self.until_probe = _FIRST_PROBE
        self.untimed = 1          # the first step pays for first calls (allocation, warm-up)
        self.confirming = False   # the next probe decides a switch
        self.warming = False      # the next step on the other count only warms it up
        self.settled = False      # a step on n threads split nothing: no more choosing

    def _other(self):
        return 1 if self.running == self.n else self.n

    def count(self):
        """The thread count of the next step."""
        return self._other() if self.until_probe <= 0 else self.running

    def record(self, count, seconds):
        """Take the time of a step that ran on `count` threads."""
        if self.untimed > 0:
            self.untimed -= 1
            return
        other = self._other()
        if count == other and self.warming:
            # a probe's first step, after steps on the running count: the other count's
            # threads start and its caches fill (a LeNet-5 step on two threads took
            # 2.08 ms there against 1.88 after): not compared; the next step probes
            self.warming = False
            return
        self.times[count].append(seconds)
        if count == other:
            self.until_probe = self.between
        else:
            self.until_probe -= 1
            self.warming = self.until_probe <= 0
        if not self.times[other]:
            return
        mine = sorted(self.times[self.running])[len(self.times[self.running]) // 2]
        wins = self.times[other][-1] < (_MARGIN_TO_ONE if other == 1 else _MARGIN) * mine
        if wins and count == other and self.confirming:
            self.running = other
            self.times[other] = deque([self.times[other][-1]], maxlen=_KEPT)
            self.between = self.until_probe = _PROBE_AFTER
            self.confirming = self.warming = False
        elif wins:
            # the other count looks faster: one more probe, at the next step, decides
            # (after a step of warming up when the last step ran on the running count)
            self.confirming = True
            self.until_probe = 0
            self.warming = count != other
        elif count == other:
            self.confirming = False
            self.between = min(2 * self.between, _MOST_STEPS_BETWEEN)
            self.until_probe = self.between

    def run(self, step, *args, timed=True):
        """``step(*args)`` on the chosen count; `timed`: its time counts (False for a
        batch smaller than the others)."""
        if self.settled:
            return step(*args)
        count = self.count() if timed else self.running
        before = _set_limit(count)
        if 0 < before < count:            # a limit set around this loop stays, untimed
            _set_limit(before)
            timed = False
        splits = _split_count()
        try:
            start = time.perf_counter()
            result = step(*args)
            seconds = time.perf_counter() - start
        finally:
            _set_limit(before)
        if timed and count == self.n and _split_count() == splits:
            # no kernel took a second thread: one thread would run this step the same
            self.settled = True
            self.running = self.n
        elif timed:
            self.record(count, seconds)
        return result


class _OneCount:
    """The stand-in when there is nothing to choose (one thread)."""

    @staticmethod
    def run(step, *args, timed=True):
        return step(*args)


_ONE = _OneCount()


def step_threads(owner, kind, batch_shape):
    """The chooser of `owner`'s (a network's) loop `kind` ("fit", "predict", ...)
    over batches of `batch_shape`; a stand-in that only calls the step when the
    kernels have one thread (or `owner` is None)."""
    n = get_num_threads()
    if n < 2 or owner is None:
        return _ONE
    loops = _choosers.setdefault(owner, {})
    key = (kind, tuple(batch_shape), n)
    chooser = loops.get(key)
    if chooser is None:
        chooser = loops[key] = StepThreads(n)
    return chooser
