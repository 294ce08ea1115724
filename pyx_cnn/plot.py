"""Figures with matplotlib: feature maps per layer (as in the tutorial), and
loss / accuracy curves of training.

Every function draws on a new figure, saves it when `path` is given, and
returns the figure. The non-interactive Agg backend is used when nothing else
was chosen, so the functions work on machines without a display.
"""
import numpy as np

__all__ = ["plot_feature_maps", "plot_history", "plot_network_feature_maps"]


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "cairo"):
        # respect a backend the user picked explicitly; default to files only
        if "MPLBACKEND" not in __import__("os").environ:
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_feature_maps(stages, title=None, path=None, cmap="gray"):
    """Draw the maps of one layer's stages, one row per stage, one column per map.

    Parameters
    ----------
    stages : dict of str -> ndarray of shape (H, W, C) or (H, W)
        For example ``{"conv": a, "relu": b, "pool": c}``, drawn top to bottom.
    title : str, optional
    path : str or path-like, optional
        Where to save the PNG.
    cmap : str, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = _pyplot()
    maps = {name: (m[..., np.newaxis] if np.ndim(m) == 2 else np.asarray(m))
            for name, m in stages.items()}
    n_rows = len(maps)
    n_cols = max(m.shape[-1] for m in maps.values())
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(3.2 * n_cols, 2.6 * n_rows), squeeze=False
    )
    for row, (name, m) in enumerate(maps.items()):
        for col in range(n_cols):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col < m.shape[-1]:
                ax.imshow(m[..., col], cmap=cmap)
                ax.set_title(f"{name} {col}  {m.shape[0]}x{m.shape[1]}", fontsize=9)
            else:
                ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=90)
    return fig


def plot_history(history, title=None, path=None):
    """Loss (and accuracy, when recorded) per epoch or iteration.

    Parameters
    ----------
    history : History, dict of str -> list of float, or 1-D array_like
        What :meth:`NeuralNetwork.fit` returns (or its ``.history`` dict),
        or the loss per iteration from :meth:`NeuralNetwork.gradient_descent`.
    title : str, optional
    path : str or path-like, optional
        Where to save the PNG.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = _pyplot()
    xlabel = "epoch"
    if hasattr(history, "history"):
        history = history.history
    if not isinstance(history, dict):
        history = {"loss": np.asarray(history, dtype=float).ravel()}
        xlabel = "iteration"
    if "loss" not in history:
        raise ValueError("history must hold a 'loss' series")
    panels = [("loss", ["loss", "val_loss"])]
    if "accuracy" in history or "val_accuracy" in history:
        panels.append(("accuracy", ["accuracy", "val_accuracy"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.8), squeeze=False)
    for ax, (name, keys) in zip(axes[0], panels):
        for key in keys:
            if key in history and len(history[key]):
                values = np.asarray(history[key], dtype=float)
                ax.plot(np.arange(1, values.size + 1), values, marker="." if values.size < 60
                        else None, label="validation" if key.startswith("val_") else "training")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=90)
    return fig


def plot_network_feature_maps(network, image, path=None, cmap="gray", max_maps=8):
    """The feature maps of one image after every image-shaped layer of a network.

    Parameters
    ----------
    network : NeuralNetwork
    image : array_like, one sample of the network's input shape
    path : str or path-like, optional
    cmap : str, optional
    max_maps : int, optional
        At most this many channels per layer are drawn.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One row per layer whose output is ``(H, W, C)``, one column per map.
    """
    x = network._prepare_x(np.asarray(image)[np.newaxis], "image")
    stages = {"input": x[0, ..., :max_maps]}
    for i, layer in enumerate(network.layers):
        x = layer._forward(x)
        if x.ndim == 4:
            stages[f"{i} {type(layer).__name__}"] = x[0, ..., :max_maps]
    return plot_feature_maps(stages, title="feature maps per layer", path=path, cmap=cmap)
