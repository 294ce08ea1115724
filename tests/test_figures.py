"""What the figures of ``pyx-cnn demo`` and ``pyx-cnn train`` show."""
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")


@pytest.mark.parametrize("seed", range(5))
def test_demo_random_filters_are_zero_mean(seed):
    from pyx_cnn.demo import tutorial_filters

    banks = tutorial_filters(seed)
    for bank in banks[1:]:
        sums = bank.reshape(len(bank), -1).sum(axis=1)
        np.testing.assert_allclose(sums, 0, atol=1e-12)
        assert np.all(bank.std(axis=(1, 2, 3)) > 0.5)     # still random, not flat
    # the same seed gives the same filters
    np.testing.assert_array_equal(tutorial_filters(seed)[2], banks[2])


@pytest.mark.parametrize("seed", range(5))
def test_demo_maps_after_relu_are_informative(seed):
    # a filter that does not sum to zero shifts a whole map up or down, and
    # ReLU then keeps nearly all of it or nearly nothing
    pytest.importorskip("skimage")
    from pyx_cnn.demo import load_image, run_pipeline, tutorial_filters

    layers = run_pipeline(load_image(), tutorial_filters(seed))
    for number, layer in enumerate(layers, start=1):
        for c in range(layer["relu"].shape[-1]):
            positive = np.mean(layer["relu"][..., c] > 0)
            assert 0.25 < positive < 0.75, (number, c, positive)


def _record_titles(monkeypatch):
    """Call the real figure functions of pyx_cnn.plot, keeping their arguments."""
    from pyx_cnn import plot

    calls = {}
    for name in ("plot_history", "plot_confusion_matrix", "plot_filters"):
        real = getattr(plot, name)

        def record(*args, _real=real, _name=name, **kwargs):
            calls[_name] = kwargs
            return _real(*args, **kwargs)

        monkeypatch.setattr(plot, name, record)
    return calls


@pytest.mark.parametrize("dataset, model", [("digits", "small"), ("faces", "bn"),
                                            ("faces", "all")])
def test_train_figures_name_the_data_set_and_the_model(tmp_path, monkeypatch, dataset,
                                                       model):
    pytest.importorskip("sklearn")
    pytest.importorskip("skimage")
    from pyx_cnn.train_command import run_train

    calls = _record_titles(monkeypatch)
    run_train(epochs=1, out_dir=tmp_path, dataset=dataset, model=model, verbose=False)
    for name in ("plot_history", "plot_confusion_matrix", "plot_filters"):
        title = calls[name]["title"]
        assert dataset in title and f"'{model}'" in title, (name, title)
    if dataset == "faces":
        assert calls["plot_confusion_matrix"]["class_names"] == ["non-face", "face"]
    assert "3x3" in calls["plot_filters"]["title"]
    for png in ("loss.png", "confusion.png", "filters.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
