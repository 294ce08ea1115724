"""
Model selection with scikit-learn
=================================

:class:`pyx_cnn.sklearn.CNNClassifier` wraps a pyx_cnn network as a
scikit-learn classifier: ``fit``, ``predict``, ``predict_proba``, ``score``,
and parameters that ``cross_val_score``, ``GridSearchCV`` and ``Pipeline`` can
set and clone. It needs the ``sklearn`` extra: ``pip install "pyx_cnn[sklearn]"``.

The runs here are kept short (3 epochs, 3 folds); real searches train longer.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pyx_cnn import layers
from pyx_cnn.sklearn import CNNClassifier

# %%
# The data
# --------
#
# The digits as images ``(N, 8, 8)`` (one channel) with their labels, and a
# test split that no search sees.

digits = load_digits()
images = digits.images / 16.0
images_train, images_test, labels_train, labels_test = train_test_split(
    images, digits.target, test_size=0.25, stratify=digits.target, random_state=0)
print("training images:", images_train.shape, "test images:", images_test.shape)

# %%
# Cross-validation
# ----------------
#
# Without ``layers`` the classifier builds a small CNN, ``Conv2D(8, 3,
# padding=1, activation="relu")``, ``MaxPool2D(2, 2)``, ``Flatten()``, and
# appends the output layer ``Dense(n_classes, activation="softmax")``. It
# trains with Adam (``learning_rate=0.01`` by default); ``random_state`` fixes
# the initial weights and the shuffling.

clf = CNNClassifier(epochs=3, random_state=0)
scores = cross_val_score(clf, images_train, labels_train, cv=3)
print("accuracy on each of the 3 folds:", np.round(scores, 3))
print(f"mean {scores.mean():.3f} +/- {scores.std():.3f}")

# %%
# A grid search
# -------------
#
# Two hyper-parameters: the learning rate, and the body of the network. A
# ``layers`` value is a list of unbuilt layers; each ``fit`` builds fresh layers
# from their configuration, so the same list can be tried on every fold.

wider = [layers.Conv2D(16, 3, padding=1, activation="relu"), layers.MaxPool2D(2, 2)]
two_convs = [layers.Conv2D(8, 3, padding=1, activation="relu"),
             layers.Conv2D(16, 3, padding=1, activation="relu"), layers.MaxPool2D(2, 2)]
bodies = {"default:\n8 filters": None, "16 filters": wider, "two\nconvolutions": two_convs}
rates = [0.001, 0.01, 0.03]

search = GridSearchCV(
    CNNClassifier(epochs=3, random_state=0),
    {"learning_rate": rates, "layers": list(bodies.values())},
    cv=3,
)
search.fit(images_train, labels_train)
names = {id(body): name for name, body in bodies.items()}
best_body = names[id(search.best_params_["layers"])].replace("\n", " ")
print(f"best: learning_rate={search.best_params_['learning_rate']}, layers: {best_body}")
print(f"best mean accuracy over the folds: {search.best_score_:.3f}")

# %%
# ``cv_results_`` holds each combination's parameters and fold scores. Drawn
# as a grid, the mean accuracy of each combination: with three epochs only, the
# small learning rates are still far from done, and the bodies with more filters
# learn faster at every rate.

results = search.cv_results_
mean = np.empty((len(rates), len(bodies)))
for params, score in zip(results["params"], results["mean_test_score"]):
    mean[rates.index(params["learning_rate"]),
         list(bodies).index(names[id(params["layers"])])] = score
fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
shown = ax.imshow(mean, cmap="viridis", aspect="auto")
for (i, j), value in np.ndenumerate(mean):
    ax.text(j, i, f"{value:.3f}", ha="center", va="center",
            color="black" if value > mean.min() + 0.6 * np.ptp(mean) else "white")
ax.set_xticks(range(len(bodies)), list(bodies))
ax.set_yticks(range(len(rates)), [str(r) for r in rates])
ax.set_xlabel("layers (the body of the network)")
ax.set_ylabel("learning_rate")
ax.set_title("GridSearchCV: mean accuracy over 3 folds, 3 epochs each")
fig.colorbar(shown, ax=ax, label="mean cross-validated accuracy")
plt.show()

# %%
# ``GridSearchCV`` refits the best combination on the whole training split
# (``refit=True``), so ``search`` now predicts like a fitted classifier. The
# trained pyx_cnn network is its ``best_estimator_.network_``.

print(f"test accuracy of the refitted best model: {search.score(images_test, labels_test):.3f}")
search.best_estimator_.network_.summary()

# %%
# In a Pipeline
# -------------
#
# scikit-learn's transformers pass tables ``(N, n_features)``, not images.
# ``input_shape=(8, 8)`` tells the classifier to turn each row of 64 values
# back into an 8x8 image, so a pipeline can scale each pixel first (here to
# mean 0 and variance 1 over the training images) and end in a CNN.

print("table:", digits.data.shape)
table_train, table_test, y_train, y_test = train_test_split(
    digits.data, digits.target, test_size=0.25, stratify=digits.target, random_state=0)
pipe = make_pipeline(StandardScaler(),
                     CNNClassifier(input_shape=(8, 8), epochs=3, random_state=0))
pipe.fit(table_train, y_train)
print(f"pipeline test accuracy: {pipe.score(table_test, y_test):.3f}")

# %%
# The pipeline is itself an estimator: its steps' parameters are searched by
# name, ``<step>__<parameter>``.

pipe_search = GridSearchCV(pipe, {"cnnclassifier__learning_rate": [0.003, 0.01]}, cv=3)
pipe_search.fit(table_train, y_train)
print("best:", pipe_search.best_params_,
      f"test accuracy {pipe_search.score(table_test, y_test):.3f}")
