"""Figures with matplotlib: feature maps per layer (as in the tutorial), filters,
loss / accuracy curves of training and the confusion matrix.

Maps are drawn to scale (a pooled map is half the size of the map it pools).
In :func:`plot_feature_maps` the stages of one layer (convolution, ReLU,
pooling) share one colour scale, so that a value has the same colour in every
column, shown by one colour bar under the columns; in
:func:`plot_network_feature_maps` each layer has its own scale and colour bar
(the outputs of different layers are not comparable). Maps that hold negative
values use a blue-white-red scale centred on zero, the others a dark-to-bright
scale from zero.

Every function draws on a new figure, saves it when `path` is given, and
returns the figure. The backend is matplotlib's choice (the one you picked, or
Agg, files only, on a machine without a display); the functions never change it.
"""
from ._common import _pyplot  # noqa: F401 (the benchmark suite draws with it too)
from ._filters import plot_filters
from ._maps import plot_feature_maps, plot_network_feature_maps
from ._training import plot_confusion_matrix, plot_history

__all__ = [
    "plot_feature_maps",
    "plot_filters",
    "plot_history",
    "plot_confusion_matrix",
    "plot_network_feature_maps",
]

