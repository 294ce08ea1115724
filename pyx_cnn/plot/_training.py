"""Figures of a training run: the loss and accuracy curves and the confusion matrix."""
import numpy as np

from ._common import _pyplot, _save


def plot_history(history, title=None, path=None, val_label="validation"):
    """Loss (and accuracy, when recorded) per epoch or iteration.

    Parameters
    ----------
    history : History, dict of str -> list of float, or 1-D array_like
        What :meth:`NeuralNetwork.fit` returns (or its ``.history`` dict),
        or the loss per iteration from :meth:`NeuralNetwork.gradient_descent`.
    title : str, optional
    path : str or path-like, optional
        Where to save the PNG.
    val_label : str, optional
        Legend of the ``val_*`` series: what was passed as ``validation_data``
        (``pyx-cnn train`` passes its test split and says "test").

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    xlabel = "epoch"
    if hasattr(history, "history"):
        history = history.history
    if not isinstance(history, dict):
        history = {"loss": np.asarray(history, dtype=float).ravel()}
        xlabel = "iteration"
    if "loss" not in history:
        raise ValueError(
            f"history must hold a 'loss' series, got the keys {sorted(history)}"
        )
    if len(history["loss"]) == 0:
        raise ValueError("history['loss'] is empty: there is no epoch to plot")
    panels = [("loss", ["loss", "val_loss"])]
    if "accuracy" in history or "val_accuracy" in history:
        panels.append(("accuracy", ["accuracy", "val_accuracy"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.8), squeeze=False,
                             layout="constrained")
    for ax, (name, keys) in zip(axes[0], panels):
        for key in keys:
            if key in history and len(history[key]):
                values = np.asarray(history[key], dtype=float)
                ax.plot(np.arange(1, values.size + 1), values, marker="." if values.size < 60
                        else None, label=val_label if key.startswith("val_") else "training")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # whole epochs
        ax.set_xlabel(xlabel)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    _save(fig, path)
    return fig



def _labels(values, name):
    values = np.asarray(values)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of class labels, "
                         f"got shape {values.shape}")
    if not np.issubdtype(values.dtype, np.integer):
        if not np.issubdtype(values.dtype, np.floating) or not np.all(values == np.round(values)):
            raise TypeError(f"{name} must hold integer class labels, got dtype {values.dtype}")
        values = values.astype(np.int64)
    if values.min() < 0:
        raise ValueError(f"{name} must hold labels >= 0, got {values.min()}")
    return values



def plot_confusion_matrix(y_true, y_pred, class_names=None, title=None, path=None):
    """How often each true class (row) was predicted as each class (column).

    Parameters
    ----------
    y_true, y_pred : array_like of int, shape (N,)
        True and predicted class labels 0, 1, ..., K-1.
    class_names : sequence of str, optional
        Names of the K classes; the labels themselves by default.
    title : str, optional
    path : str or path-like, optional
        Where to save the PNG.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Counts written in each cell; the diagonal holds the right answers.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    y_true = _labels(y_true, "y_true")
    y_pred = _labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} "
                         f"and {y_pred.shape}")
    n_classes = int(max(y_true.max(), y_pred.max())) + 1
    if class_names is None:
        class_names = [str(k) for k in range(n_classes)]
    class_names = [str(name) for name in class_names]
    if len(class_names) < n_classes:
        raise ValueError(f"class_names has {len(class_names)} names, but the labels go up to "
                         f"{n_classes - 1}")
    n_classes = len(class_names)
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    size = max(4.0, 0.45 * n_classes + 2.0)
    fig, ax = plt.subplots(figsize=(size + 1.2, size), layout="constrained")
    # aspect "auto": the layout fits the labels around the matrix (a fixed
    # aspect let the colour bar push the "true class" label out of the figure);
    # the figure's shape keeps the cells about square
    image = ax.imshow(counts, cmap="Blues", aspect="auto")
    for (i, j), count in np.ndenumerate(counts):
        if count:
            ax.text(j, i, str(count), ha="center", va="center", fontsize=9,
                    color="white" if count > 0.6 * counts.max() else "black")
    ax.set_xticks(range(n_classes), class_names)
    ax.set_yticks(range(n_classes), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    colour_bar = fig.colorbar(image, ax=ax, label="number of samples")
    colour_bar.locator = MaxNLocator(integer=True)   # counts are whole numbers
    colour_bar.update_ticks()
    accuracy = np.trace(counts) / counts.sum()
    ax.set_title(f"{title + chr(10) if title else ''}accuracy {accuracy:.1%} "
                 f"({np.trace(counts)} of {counts.sum()} right)", fontsize=11)
    _save(fig, path)
    return fig

