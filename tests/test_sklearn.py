"""pyx_cnn.sklearn: CNNClassifier and CNNRegressor as scikit-learn estimators."""
import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone                                         # noqa: E402
from sklearn.datasets import load_digits                               # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score      # noqa: E402
from sklearn.pipeline import make_pipeline                             # noqa: E402
from sklearn.preprocessing import StandardScaler                       # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks     # noqa: E402

from pyx_cnn import layers as L                                        # noqa: E402
from pyx_cnn.sklearn import CNNClassifier, CNNRegressor                # noqa: E402


@parametrize_with_checks([CNNClassifier(), CNNRegressor()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.images / 16.0, d.target, d.data


def test_default_cnn_on_images(digits):
    X, y, _ = digits
    clf = CNNClassifier(epochs=3, random_state=0).fit(X[:900], y[:900])
    names = [type(layer).__name__ for layer in clf.network_.layers]
    assert names == ["Conv2D", "MaxPool2D", "Flatten", "Dense"]
    assert clf.n_features_in_ == 64 and clf.sample_shape_ == (8, 8, 1)
    assert clf.score(X[900:], y[900:]) > 0.8
    proba = clf.predict_proba(X[900:])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X[900:]), clf.classes_[proba.argmax(axis=1)])
    # (N, H, W, C) images give the same network
    clf4 = CNNClassifier(epochs=3, random_state=0).fit(X[:900, ..., None], y[:900])
    np.testing.assert_array_equal(clf4.predict_proba(X[900:, ..., None]), proba)


def test_cross_val_score_and_grid_search(digits):
    X, y, _ = digits
    X, y = X[:600], y[:600]
    scores = cross_val_score(CNNClassifier(epochs=2, random_state=0), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.6
    search = GridSearchCV(CNNClassifier(epochs=2, random_state=0),
                          {"learning_rate": [1e-4, 1e-2]}, cv=2).fit(X, y)
    assert search.best_params_ == {"learning_rate": 1e-2}
    assert search.best_estimator_.score(X, y) > 0.8


def test_pipeline_of_tables_with_input_shape(digits):
    _, y, table = digits
    pipe = make_pipeline(StandardScaler(),
                         CNNClassifier(input_shape=(8, 8), epochs=2, random_state=0))
    pipe.fit(table[:900], y[:900])
    assert pipe[-1].network_.input_shape == (8, 8, 1)
    assert pipe.score(table[900:], y[900:]) > 0.8
    with pytest.raises(ValueError, match="input_shape"):
        CNNClassifier(input_shape=(7, 7)).fit(table, y)


def test_user_layers_are_cloned_not_changed(digits):
    X, y, _ = digits
    body = [L.Conv2D(4, 3, activation="relu")]               # an image body: Flatten appended
    clf = CNNClassifier(layers=body, epochs=1, random_state=0)
    clf.fit(X[:200], y[:200])
    assert not body[0].built and clf.layers is body
    assert [type(l).__name__ for l in clf.network_.layers] == ["Conv2D", "Flatten", "Dense"]
    again = clone(clf).fit(X[:200], y[:200])
    np.testing.assert_array_equal(again.predict_proba(X[:50]), clf.predict_proba(X[:50]))


def test_string_labels_partial_fit_and_pickle(digits):
    X, y, _ = digits
    words = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])
    labels = words[y]
    clf = CNNClassifier(epochs=1, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X[:100], labels[:100])
    clf.partial_fit(X[:100], labels[:100], classes=words)
    assert set(clf.classes_) == set(words)
    for _ in range(3):
        clf.partial_fit(X[100:600], labels[100:600])
    assert clf.score(X[600:900], labels[600:900]) > 0.6
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(X[:50]), clf.predict_proba(X[:50]))
    before = copy.predict_proba(X[:50])
    copy.partial_fit(X[:300], labels[:300])                   # training goes on after pickling
    assert not np.array_equal(copy.predict_proba(X[:50]), before)
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X[:2], ["zero", "eleven"])


def test_regressor_single_and_multi_output(digits):
    X, y, _ = digits
    reg = CNNRegressor(epochs=4, random_state=0).fit(X[:900], y[:900].astype(float))
    assert reg.predict(X[:5]).shape == (5,)
    assert reg.score(X[900:], y[900:]) > 0.5
    targets = np.stack([y, X.mean(axis=(1, 2)) * 100], axis=1)
    multi = CNNRegressor(epochs=2, random_state=0).fit(X[:300], targets[:300])
    assert multi.predict(X[:5]).shape == (5, 2)
    multi.partial_fit(X[300:400], targets[300:400])
    with pytest.raises(ValueError, match="outputs"):
        multi.partial_fit(X[:3], y[:3, None].repeat(3, axis=1))


def test_image_shape_mismatch_is_refused(digits):
    X, y, _ = digits
    clf = CNNClassifier(epochs=1, random_state=0).fit(X[:100], y[:100])
    with pytest.raises(ValueError, match=r"expecting samples of shape \(8, 8, 1\)"):
        clf.predict(X[:5, :7, :7])


def test_bad_epochs():
    with pytest.raises(ValueError, match="epochs"):
        CNNClassifier(epochs=-1).fit(np.zeros((4, 3)), [0, 1, 0, 1])


def test_dask_parallel_post_fit(digits):
    pytest.importorskip("dask_ml")
    da = pytest.importorskip("dask.array")
    from dask_ml.wrappers import ParallelPostFit

    _, y, table = digits
    # dask_ml maps predict over row blocks of 2-D arrays: images as table rows + input_shape
    model = ParallelPostFit(CNNClassifier(input_shape=(8, 8), epochs=1, random_state=0))
    model.fit(table, y)
    dX = da.from_array(table, chunks=(400, 64))
    np.testing.assert_array_equal(model.predict(dX).compute(), model.estimator.predict(table))
    np.testing.assert_allclose(model.predict_proba(dX).compute(),
                               model.estimator.predict_proba(table), rtol=1e-12)


# --- channels-first images and bad hyper-parameters are refused at fit -------------------

@pytest.mark.parametrize("Estimator", [CNNClassifier, CNNRegressor])
@pytest.mark.parametrize("shape", [(20, 1, 8, 8), (20, 3, 8, 8), (20, 3, 32, 28),
                                   (20, 4, 16, 16)])
def test_channels_first_images_are_refused_with_the_transpose(Estimator, shape):
    X = np.random.default_rng(0).random(shape)
    est = Estimator(epochs=1, random_state=0)
    with pytest.raises(ValueError, match=r"X has samples of shape \(" + str(shape[1])
                       + r".*channels-first \(NCHW\).*X.transpose\(0, 2, 3, 1\)"):
        est.fit(X, np.arange(20) % 2)
    assert not hasattr(est, "network_")
    with pytest.raises(ValueError, match=r"X.transpose\(0, 2, 3, 1\)"):
        est.partial_fit(X, np.arange(20) % 2, **({"classes": [0, 1]}
                                                 if Estimator is CNNClassifier else {}))


@pytest.mark.parametrize("Estimator", [CNNClassifier, CNNRegressor])
@pytest.mark.parametrize("shape", [(12, 8, 8, 1), (12, 16, 12, 3), (12, 1, 1, 5),
                                   (12, 4, 4, 16), (12, 2, 9, 3)])
def test_channels_last_images_are_taken_as_they_are(Estimator, shape):
    X = np.random.default_rng(0).random(shape)
    est = Estimator(epochs=1, batch_size=4, random_state=0).fit(X, np.arange(12) % 3)
    assert est.sample_shape_ == shape[1:]
    assert est.network_.input_shape == shape[1:]
    with pytest.raises(ValueError, match=r"expecting samples of shape"):
        est.predict(np.concatenate([X, X], axis=2))


def test_channels_first_input_to_predict_gets_the_transpose(digits):
    X, y, _ = digits
    clf = CNNClassifier(epochs=1, random_state=0).fit(X[:100], y[:100])
    with pytest.raises(ValueError, match=r"channels-first.*X.transpose\(0, 2, 3, 1\)"):
        clf.predict(X[:5, None])


def test_input_shape_takes_images_that_look_channels_first():
    # 4 x 16 images of 16 channels: input_shape says they are meant as they are
    X = np.random.default_rng(0).random((12, 4, 16, 16))
    clf = CNNClassifier(input_shape=(4, 16, 16), epochs=1, random_state=0)
    assert clf.fit(X, np.arange(12) % 2).sample_shape_ == (4, 16, 16)
    with pytest.raises(ValueError, match=r"input_shape=\(4, 16, 16\).*X has samples of shape "
                       r"\(16, 16, 4\)"):
        CNNClassifier(input_shape=(4, 16, 16)).fit(X.transpose(0, 2, 3, 1), np.arange(12) % 2)


@pytest.mark.parametrize("Estimator", [CNNClassifier, CNNRegressor])
@pytest.mark.parametrize("param,value", [
    ("epochs", 0), ("epochs", -1), ("epochs", 2.5), ("epochs", "3"), ("epochs", True),
    ("batch_size", 0), ("batch_size", None), ("batch_size", 4.0),
    ("learning_rate", -0.1), ("learning_rate", float("nan")), ("learning_rate", float("inf")),
    ("learning_rate", "fast"), ("learning_rate", None),
    ("optimizer", "lbfgs"), ("optimizer", 3),
    ("dtype", "int32"), ("dtype", "float16"),
    ("random_state", "seed"), ("random_state", -1),
    ("input_shape", (8,)), ("input_shape", (0, 8)), ("input_shape", "8x8"),
    ("layers", "conv"), ("layers", [3]),
    ("verbose", "yes"),
])
def test_bad_hyper_parameters_are_refused_at_fit(Estimator, param, value):
    X, y = np.random.default_rng(0).random((8, 8, 8)), np.arange(8) % 2
    est = Estimator(**{param: value})
    with pytest.raises(ValueError, match=param):
        est.fit(X, y)
    assert not hasattr(est, "network_")
    kwargs = {"classes": [0, 1]} if Estimator is CNNClassifier else {}
    with pytest.raises(ValueError, match=param):
        Estimator(**{param: value}).partial_fit(X, y, **kwargs)


# --- fit and predict take the same kinds of X --------------------------------------------

def _same_kind_cases():
    """(name, X, input_shape, the sample shape the network takes) for each accepted form."""
    d = load_digits()
    images, table = d.images[:60] / 16.0, d.data[:60] / 16.0
    looks_channels_first = np.random.default_rng(0).random((60, 4, 16, 16))
    return [
        ("table, input_shape=(8, 8)", table, (8, 8), (8, 8, 1)),
        ("table, input_shape=(8, 8, 1)", table, (8, 8, 1), (8, 8, 1)),
        ("table of feature vectors", table, None, (64,)),
        ("3-D images", images, None, (8, 8, 1)),
        ("3-D images, input_shape=(8, 8)", images, (8, 8), (8, 8, 1)),
        ("4-D images", images[..., None], None, (8, 8, 1)),
        ("4-D images, input_shape=(8, 8, 1)", images[..., None], (8, 8, 1), (8, 8, 1)),
        ("4-D images that look channels-first, input_shape=(4, 16, 16)",
         looks_channels_first, (4, 16, 16), (4, 16, 16)),
    ]


@pytest.mark.parametrize("Estimator", [CNNClassifier, CNNRegressor])
@pytest.mark.parametrize("case", _same_kind_cases(), ids=lambda case: case[0])
def test_predict_and_score_take_the_kind_of_X_fit_took(Estimator, case):
    _, X, input_shape, sample = case
    y = np.arange(len(X)) % 3
    if Estimator is CNNRegressor:
        y = y.astype(float)
    est = Estimator(input_shape=input_shape, epochs=1, batch_size=20, random_state=0)
    est.fit(X, y)
    assert est.sample_shape_ == sample and est.n_features_in_ == int(np.prod(sample))
    expected = est.network_.predict(np.reshape(X, (len(X),) + sample))
    if Estimator is CNNClassifier:
        np.testing.assert_array_equal(est.predict_proba(X), expected)
        np.testing.assert_array_equal(est.predict(X), est.classes_[expected.argmax(axis=1)])
        est.partial_fit(X, y)                       # a later call validates as predict does
    else:
        np.testing.assert_array_equal(est.predict(X), expected.ravel() * est._y_scale
                                      + est._y_mean)
        est.partial_fit(X, y)
    assert np.isfinite(est.score(X, y))
    # samples of another shape are still refused, naming the shape expected
    other = np.zeros((2, 7, 7, 1))
    with pytest.raises(ValueError, match="expecting"):
        est.predict(other)


def test_a_table_for_a_network_fitted_on_images_without_input_shape_is_refused(digits):
    X, y, table = digits
    clf = CNNClassifier(epochs=1, random_state=0).fit(X[:60], y[:60])
    with pytest.raises(ValueError, match=r"samples of shape \(64,\).*expecting samples of "
                                         r"shape \(8, 8, 1\)"):
        clf.predict(table[:5])
