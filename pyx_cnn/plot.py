"""Figures with matplotlib: feature maps per layer (as in the tutorial).

Every function draws on a new figure, saves it when `path` is given, and
returns the figure. The non-interactive Agg backend is used when nothing else
was chosen, so the functions work on machines without a display.
"""
import numpy as np

__all__ = ["plot_feature_maps"]


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
