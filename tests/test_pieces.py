"""predict and evaluate run a batch in pieces that fit the cache (pyx_cnn/_pieces.py):
the pieces' sizes, and the same outputs and scores as one pass over the batch."""
import numpy as np
import pytest

from pyx_cnn import NeuralNetwork, layers
from pyx_cnn import _pieces
from pyx_cnn._pieces import forward_in_pieces, piece_size
from pyx_cnn._thread_choice import step_threads


def _net(dtype=np.float32):
    # every kind of layer whose inference must not mix samples: batch norm (its
    # running statistics), dropout, pooling, dense
    net = NeuralNetwork([layers.Conv2D(6, 3, padding=1), layers.BatchNormalization(),
                         layers.ReLU(), layers.MaxPool2D(2, 2), layers.Dropout(0.5),
                         layers.Flatten(), layers.Dense(7, activation="softmax")],
                        input_shape=(10, 12, 2), dtype=dtype, seed=3)
    bn = net.layers[1]
    rng = np.random.default_rng(0)
    bn.state["mean"][...] = rng.standard_normal(6)
    bn.state["var"][...] = rng.uniform(0.5, 2.0, 6)
    return net


@pytest.mark.parametrize("batch", [1, 2, 7, 64, 255, 256])
@pytest.mark.parametrize("budget", [1, 3000, 10 ** 9])
def test_piece_size_keeps_the_largest_activation_within_the_budget(monkeypatch, batch,
                                                                   budget):
    net = _net()
    monkeypatch.setattr(_pieces, "PIECE_BYTES", budget)
    monkeypatch.setattr(_pieces, "MIN_PIECE_SAMPLES", 1)
    largest = 10 * 12 * 6 * 4            # the Conv2D's output, float32, per sample
    piece = piece_size(net, batch)
    assert 1 <= piece <= batch
    if largest <= budget:
        assert piece * largest <= budget or piece == batch
    else:
        assert piece == 1
    # as few pieces as the budget allows, of sizes differing by less than one piece
    n_pieces = -(-batch // piece)
    most = max(1, budget // largest)
    assert n_pieces == -(-batch // most)
    assert batch - (n_pieces - 1) * piece > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_and_evaluate_give_what_one_pass_gives(monkeypatch, dtype):
    net = _net(dtype)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, 10, 12, 2)).astype(dtype)
    y = rng.integers(0, 7, 50)
    whole = net._chain.plan().forward(x)
    scores_whole = net.evaluate(x, y, batch_size=50)
    # pieces of 3 samples (the last of 2): 17 passes per batch of 50
    monkeypatch.setattr(_pieces, "PIECE_BYTES", 3 * 10 * 12 * 6 * np.dtype(dtype).itemsize)
    monkeypatch.setattr(_pieces, "MIN_PIECE_SAMPLES", 1)
    assert piece_size(net, 50) == 3
    np.testing.assert_allclose(net.predict(x, batch_size=50), whole, rtol=1e-6 if dtype ==
                               np.float32 else 1e-14, atol=0)
    scores = net.evaluate(x, y, batch_size=50)
    assert scores["accuracy"] == scores_whole["accuracy"]
    assert scores["loss"] == pytest.approx(scores_whole["loss"], rel=1e-6)


@pytest.mark.parametrize("minimum, expected", [(1, 2), (64, 64), (100, 80)])
def test_pieces_hold_at_least_the_minimum_of_samples(monkeypatch, minimum, expected):
    # a budget of 2 samples; at least `minimum` a piece, never more than the batch (80)
    net = _net()
    monkeypatch.setattr(_pieces, "PIECE_BYTES", 2 * 10 * 12 * 6 * 4)
    monkeypatch.setattr(_pieces, "MIN_PIECE_SAMPLES", minimum)
    assert piece_size(net, 80) == expected


def test_forward_in_pieces_times_only_whole_pieces():
    calls = []

    class Recorder:
        @staticmethod
        def run(step, *args, timed=True):
            calls.append((args[0].shape[0], args[1:], timed))
            return step(*args)

    x = np.arange(10.0).reshape(10, 1)
    out = forward_in_pieces(Recorder, lambda a, scale: a * scale, x, 4, 2.0)
    np.testing.assert_array_equal(out, x * 2.0)
    assert calls == [(4, (2.0,), True), (4, (2.0,), True), (2, (2.0,), False)]
    # into a given array, every piece (one piece too)
    for n in (10, 3):
        into = np.full((n, 1), np.nan)
        assert forward_in_pieces(Recorder, lambda a, scale: a * scale, x[:n], 4, 3.0,
                                 out=into) is into
        np.testing.assert_array_equal(into, x[:n] * 3.0)
    out = forward_in_pieces(step_threads(None, "predict", (3, 1)), lambda a: a + 1, x[:3], 4)
    np.testing.assert_array_equal(out, x[:3] + 1)
