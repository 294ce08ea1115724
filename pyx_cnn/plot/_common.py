"""What the figures share: pyplot, checking maps, colour scales and saving."""
import numpy as np


def _pyplot():
    # matplotlib picks the backend: the one the user chose (matplotlib.use,
    # MPLBACKEND, matplotlibrc), else an interactive one where a display exists
    # and Agg (files only) where none does
    import matplotlib.pyplot as plt

    return plt



def _as_maps(m, name):
    """`m` as a float array (H, W, C); a 2-D map is one channel."""
    m = np.asarray(m)
    if m.ndim == 2:
        m = m[..., np.newaxis]
    if m.ndim != 3 or m.size == 0:
        raise ValueError(
            f"{name} must be a non-empty map of shape (H, W) or (H, W, C), got shape {m.shape}"
        )
    if not np.issubdtype(m.dtype, np.number) or np.iscomplexobj(m):
        raise TypeError(f"{name} must hold real numbers, got dtype {m.dtype}")
    return m.astype(float)



def _colour_scale(values, cmap=None):
    """(cmap, vmin, vmax) shared by all maps of one stage.

    Negative values: a scale symmetric about zero. Otherwise zero to the
    largest value. Limits are taken at the 0.5 and 99.5 percentiles, so that a
    few extreme pixels do not leave the rest of the map black.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return cmap or "gray", 0.0, 1.0
    low, high = np.percentile(finite, [0.5, 99.5])
    if low < 0:
        bound = max(-low, high, 1e-12)
        return cmap or "RdBu_r", -bound, bound
    return cmap or "magma", 0.0, max(high, 1e-12)



def _shared_colour_scale(stages, cmap=None):
    """One (cmap, vmin, vmax) for all `stages`: wide enough for each stage's own scale."""
    scales = [_colour_scale(maps) for maps in stages.values()]
    high = max(vmax for _, _, vmax in scales)
    if any(vmin < 0 for _, vmin, _ in scales):
        return cmap or "RdBu_r", -high, high
    return cmap or "magma", 0.0, high



def _save(fig, path):
    """Save `fig` as a PNG at `path` (nothing when `path` is None)."""
    if path is not None:
        # "tight": the saved picture holds every label, whatever the layout did
        fig.savefig(path, dpi=100, bbox_inches="tight", pad_inches=0.1)

