"""Filter banks drawn as grids of kernels, with their weights written in the cells."""
import numpy as np

from ._common import _pyplot, _save


def _filter_bank(weights, name):
    """`weights` as a float array (F, kh, kw, C)."""
    w = np.asarray(weights)
    if w.ndim == 3:
        w = w[..., np.newaxis]
    if w.ndim != 4 or w.size == 0:
        raise ValueError(
            f"{name} must be a non-empty filter bank of shape (F, kh, kw) or (F, kh, kw, C), "
            f"got shape {w.shape}"
        )
    if not np.issubdtype(w.dtype, np.number) or np.iscomplexobj(w):
        raise TypeError(f"{name} must hold real numbers, got dtype {w.dtype}")
    return w.astype(float)



#: filters per row of a filter grid; more filters go on to further rows
_FILTERS_PER_ROW = 8


def _filter_grid(n_filters, n_channels):
    """(rows, columns) of the panels: rows of at most _FILTERS_PER_ROW filters,
    each filter a column of `n_channels` panels (one per input channel)."""
    n_cols = min(n_filters, _FILTERS_PER_ROW)
    n_blocks = -(-n_filters // n_cols)   # ceil
    return n_blocks * n_channels, n_cols



def _weight_text(value, bound):
    """`value` rounded to two significant digits of the largest weight `bound`.

    Every cell of a bank gets the same number of decimals, so the numbers stay
    short: ``0.35``, ``-0.08``, ``0.00`` (never ``-0.00096``).
    """
    decimals = max(0, 1 - int(np.floor(np.log10(bound))))
    return f"{round(float(value), decimals) + 0.0:.{decimals}f}"



def _numbers_by_default(bank):
    """Whether the weights of `bank` (F, kh, kw, C) are written out unless told otherwise:
    kernels of at most 3x3 weights, and at most 32 panels (filters x input channels)."""
    n_filters, kh, kw, n_channels = bank.shape
    return kh * kw <= 9 and n_filters * n_channels <= 32



def _draw_filters(fig, bank, annotate=None):
    """A filter bank as a grid of panels (see :func:`_filter_grid`).

    Returns the texts of the weights written in the cells (an empty list when
    `annotate` is False, or is None and :func:`_numbers_by_default` says no).
    """
    n_filters, kh, kw, n_channels = bank.shape
    bound = max(np.abs(bank[np.isfinite(bank)]).max(initial=0.0), 1e-12)
    if annotate is None:
        annotate = _numbers_by_default(bank)
    n_rows, n_cols = _filter_grid(n_filters, n_channels)
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")   # switched back on for each panel that shows a filter
    image = None
    numbers = []
    for f in range(n_filters):
        block, col = divmod(f, n_cols)
        for c in range(n_channels):
            ax = axes[block * n_channels + c, col]
            ax.axis("on")
            kernel = bank[f, :, :, c]
            image = ax.imshow(kernel, cmap="RdBu_r", vmin=-bound, vmax=bound,
                              interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if annotate:
                for (i, j), value in np.ndenumerate(kernel):
                    numbers.append(ax.text(
                        j, i, _weight_text(value, bound), ha="center", va="center",
                        fontsize=8, color="white" if abs(value) > 0.6 * bound else "black"))
            if c == 0:
                ax.set_title(f"filter {f + 1}", fontsize=9)
            if col == 0 and n_channels > 1:
                # written across, so short rows of a single filter never overlap
                ax.set_ylabel(f"input ch. {c + 1}", fontsize=9, rotation=0, ha="right",
                              va="center")
    fig.colorbar(image, ax=axes.ravel().tolist(), location="bottom", shrink=0.8,
                 aspect=25 if n_cols > 2 else 15, label="weight")
    fig.suptitle(f"filters: {n_filters} of {kh}x{kw}"
                 + (f" over {n_channels} input channels" if n_channels > 1 else ""),
                 fontsize=11, fontweight="bold")
    return numbers



def _remove_numbers_that_do_not_fit(fig, numbers):
    """Lay `fig` out, then remove all `numbers` when one is wider or taller than its cell."""
    if not numbers:
        return
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for text in numbers:
        ax = text.axes
        kh, kw = ax.images[0].get_array().shape
        cell = ax.get_window_extent(renderer)
        box = text.get_window_extent(renderer)
        if box.width > 0.95 * cell.width / kw or box.height > 0.95 * cell.height / kh:
            for number in numbers:
                number.remove()
            return



def plot_filters(layer_or_weights, title=None, path=None, annotate=None):
    """Draw the filters of a Conv2D layer (or a filter bank) as a grid.

    Parameters
    ----------
    layer_or_weights : Conv2D or array_like of shape (F, kh, kw) or (F, kh, kw, C)
        A layer with ``params["W"]`` (after the network was built), or its weights.
    title : str, optional
    path : str or path-like, optional
        Where to save the PNG.
    annotate : bool, optional
        True: write each weight in its cell. False: never. None (default): for
        kernels of at most 3x3 weights in banks of at most 32 panels (filters
        x input channels), and only when the numbers fit in their cells.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Rows of at most 8 filters; a filter over C input channels is a column
        of C panels. One colour scale centred on zero (blue negative, red
        positive) with a colour bar.
    """
    plt = _pyplot()
    weights = layer_or_weights
    params = getattr(layer_or_weights, "params", None)
    if params is not None:
        if "W" not in params:
            raise ValueError(
                f"layer_or_weights: {type(layer_or_weights).__name__} has no weights yet "
                "(build the network first, or pass a filter bank)"
            )
        weights = params["W"]
    bank = _filter_bank(weights, "layer_or_weights")
    n_filters, kh, kw, n_channels = bank.shape
    n_rows, n_cols = _filter_grid(n_filters, n_channels)
    # panel size in inches: room for a number of 5 characters in each cell of
    # a 3x3 kernel; smaller panels without numbers when there are many rows
    if annotate or (annotate is None and _numbers_by_default(bank)):
        panel = 1.4
    else:
        panel = 1.1 if n_rows <= 8 else 0.6
    labels = 1.0 if n_channels > 1 else 0.0
    fig = plt.figure(figsize=(max(panel * n_cols + labels + 0.5, 4.0),
                              (panel + 0.3) * n_rows + 1.2),
                     layout="constrained")
    numbers = _draw_filters(fig, bank, annotate)
    if title:
        fig.suptitle(title, fontsize=12)
    if annotate is None:
        _remove_numbers_that_do_not_fit(fig, numbers)
    _save(fig, path)
    return fig

