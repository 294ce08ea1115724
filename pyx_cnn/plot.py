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
import numpy as np

__all__ = [
    "plot_feature_maps",
    "plot_filters",
    "plot_history",
    "plot_confusion_matrix",
    "plot_network_feature_maps",
]


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


def _draw_stages(fig, stages, cmap=None, captions=None, totals=None, shared_scale=False):
    """Draw `stages` (name -> (H, W, C)) as columns of maps in `fig` (a (sub)figure).

    Every panel has the same pixel scale (the largest map's size), so smaller
    maps are drawn smaller. With `shared_scale`, all columns have one colour
    scale and one colour bar under them; otherwise each column has its own.
    """
    names = list(stages)
    n_rows = max(m.shape[-1] for m in stages.values())
    height = max(m.shape[0] for m in stages.values())
    width = max(m.shape[1] for m in stages.values())
    axes = fig.subplots(n_rows, len(names), squeeze=False)
    if shared_scale:
        shared = _shared_colour_scale(stages, cmap)
    for col, name in enumerate(names):
        maps = stages[name]
        if shared_scale:
            colour, vmin, vmax = shared
        else:
            colour, vmin, vmax = _colour_scale(maps, cmap)
            if name == "input" and cmap is None and colour == "magma":
                colour = "gray"  # the picture itself, in grey as in the demo
        image = None
        for row in range(n_rows):
            ax = axes[row, col]
            if row >= maps.shape[-1]:
                ax.axis("off")
                continue
            image = ax.imshow(maps[..., row], cmap=colour, vmin=vmin, vmax=vmax,
                              interpolation="nearest")
            ax.set_xlim(-0.5, width - 0.5)
            ax.set_ylim(height - 0.5, -0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            ax.set_title(f"map {row + 1}, {maps.shape[0]}x{maps.shape[1]}", fontsize=9)
        caption = (captions or {}).get(name, name)
        total = (totals or {}).get(name, maps.shape[-1])
        if total > maps.shape[-1]:
            caption += f"\n(first {maps.shape[-1]} of {total} maps)"
        axes[0, col].annotate(caption, (0.5, 1.0), xycoords="axes fraction",
                              xytext=(0, 22), textcoords="offset points",
                              ha="center", va="bottom", fontsize=11, fontweight="bold")
        if not shared_scale:
            fig.colorbar(image, ax=axes[:, col], location="bottom", shrink=0.8, aspect=25,
                         pad=0.02)
    if shared_scale:
        shrink = 0.8 if len(names) == 1 else 0.6
        fig.colorbar(image, ax=axes.ravel().tolist(), location="bottom", shrink=shrink,
                     aspect=25 * len(names), pad=0.02,
                     label="value (one colour scale for every column)")
    return axes


def plot_feature_maps(stages, title=None, path=None, cmap=None, *, inputs=None,
                      filters=None, captions=None, shared_scale=True):
    """Draw one layer's stages side by side: one column per stage, one row per map.

    Parameters
    ----------
    stages : dict of str -> ndarray of shape (H, W, C) or (H, W)
        For example ``{"conv": a, "relu": b, "pool": c}``, drawn left to right.
        Maps are drawn to scale.
    title : str, optional
    path : str or path-like, optional
        Where to save the PNG.
    cmap : str, optional
        One colour map for every stage. By default a blue-white-red scale
        centred on zero for stages with negative values, else ``"magma"``.
    inputs : ndarray of shape (H, W) or (H, W, C), optional
        The layer's input, drawn above the maps (in grey).
    filters : ndarray of shape (F, kh, kw) or (F, kh, kw, C), optional
        The layer's filter bank, drawn above the maps (see :func:`plot_filters`).
    captions : dict of str -> str, optional
        Column captions in words, e.g. ``{"relu": "ReLU: max(x, 0)"}``;
        the stage name by default.
    shared_scale : bool, optional
        True (default): every map of every stage has one colour scale, shown by
        one colour bar under the columns, so that a value has the same colour
        in each column (ReLU and pooling keep the values of the convolution).
        False: each stage has its own scale and colour bar, for stages whose
        values are not comparable.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = _pyplot()
    if not isinstance(stages, dict) or not stages:
        raise TypeError(f"stages must be a non-empty dict of name -> map, got {stages!r:.60}")
    maps = {str(name): _as_maps(m, f"stages[{name!r}]") for name, m in stages.items()}
    n_rows = max(m.shape[-1] for m in maps.values())
    height = max(m.shape[0] for m in maps.values())
    width = max(m.shape[1] for m in maps.values())
    panel_w = 2.6
    panel_h = max(panel_w * height / width, 1.2)
    top_h = 0.0
    if inputs is not None:
        inputs = _as_maps(inputs, "inputs")
    if filters is not None:
        filters = _filter_bank(filters, "filters")
    if inputs is not None or filters is not None:
        top_h = 3.2
    fig_w = max(panel_w * len(maps) + 0.6, 7.5)
    maps_h = (panel_h + 0.45) * n_rows + 1.4
    fig = plt.figure(figsize=(fig_w, maps_h + top_h), layout="constrained")
    numbers = []   # the weights written in the filters' cells
    if top_h:
        top, bottom = fig.subfigures(2, 1, height_ratios=[top_h, maps_h])
        parts = [x for x in (inputs, filters) if x is not None]
        subs = top.subfigures(1, len(parts), squeeze=False)[0] if len(parts) > 1 else [top]
        index = 0
        if inputs is not None:
            _draw_inputs(subs[index], inputs)
            index += 1
        if filters is not None:
            numbers = _draw_filters(subs[index], filters)
    else:
        bottom = fig
    _draw_stages(bottom, maps, cmap=cmap, captions=captions, shared_scale=shared_scale)
    if title:
        fig.suptitle(title, fontsize=13)
    _remove_numbers_that_do_not_fit(fig, numbers)
    _save(fig, path)
    return fig


def _save(fig, path):
    """Save `fig` as a PNG at `path` (nothing when `path` is None)."""
    if path is not None:
        # "tight": the saved picture holds every label, whatever the layout did
        fig.savefig(path, dpi=100, bbox_inches="tight", pad_inches=0.1)


def _draw_inputs(fig, inputs):
    """The layer's input maps in a row, one grey scale for all."""
    colour, vmin, vmax = _colour_scale(inputs)
    if colour == "magma":
        colour = "gray"
    n = inputs.shape[-1]
    axes = fig.subplots(1, n, squeeze=False)[0]
    image = None
    for c, ax in enumerate(axes):
        image = ax.imshow(inputs[..., c], cmap=colour, vmin=vmin, vmax=vmax)
        ax.set_xticks([])
        ax.set_yticks([])
        label = "image" if n == 1 else f"channel {c + 1}"
        ax.set_title(f"{label}, {inputs.shape[0]}x{inputs.shape[1]}", fontsize=9)
    fig.colorbar(image, ax=list(axes), location="bottom", shrink=0.8, aspect=25)
    fig.suptitle("input of this layer", fontsize=11, fontweight="bold")


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


def plot_network_feature_maps(network, image, path=None, cmap=None, max_maps=16):
    """The feature maps of one image after every image-shaped layer of a network.

    Parameters
    ----------
    network : NeuralNetwork
    image : array_like, one sample of the network's input shape
    path : str or path-like, optional
    cmap : str, optional
        See :func:`plot_feature_maps`.
    max_maps : int, optional
        At most this many channels per layer are drawn; the caption says when
        a layer has more.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One column per layer whose output is ``(H, W, C)`` (the input first),
        one row per map.
    """
    if isinstance(max_maps, bool) or not isinstance(max_maps, (int, np.integer)) or max_maps < 1:
        raise ValueError(f"max_maps must be an integer >= 1, got {max_maps!r}")
    x = network._prepare_x(np.asarray(image)[np.newaxis], "image")
    stages, captions, totals = {"input": x[0, ..., :max_maps]}, {"input": "input"}, {}
    totals["input"] = x.shape[-1]
    for i, layer in enumerate(network.layers):
        x = layer._forward(x)
        if x.ndim == 4:
            key = f"layer{i + 1}"
            stages[key] = x[0, ..., :max_maps]
            captions[key] = f"{type(layer).__name__} (layer {i + 1})"
            totals[key] = x.shape[-1]
    plt = _pyplot()
    maps = {name: _as_maps(m, name) for name, m in stages.items()}
    n_rows = max(m.shape[-1] for m in maps.values())
    fig = plt.figure(figsize=(2.3 * len(maps) + 0.5, 2.0 * n_rows + 1.6), layout="constrained")
    # each layer its own colour scale: the outputs of different layers (a
    # convolution, a batch norm, a tanh) are not on comparable scales
    _draw_stages(fig, maps, cmap=cmap, captions=captions, totals=totals)
    fig.suptitle("feature maps of one sample, layer by layer", fontsize=13)
    _save(fig, path)
    return fig
