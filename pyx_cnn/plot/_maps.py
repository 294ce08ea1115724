"""Feature maps: the stages of one layer, and every layer of a network, drawn to scale."""
import numpy as np

from ._common import _as_maps, _colour_scale, _pyplot, _save, _shared_colour_scale
from ._filters import _draw_filters, _filter_bank, _remove_numbers_that_do_not_fit


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



def _layer_outputs(network, x):
    """``(layer index, layer, output)`` of every layer call of `network` on the batch
    `x`, in the order they run: the layers one after the other for a chain, the
    graph's calls in topological order for a graph network (a layer called twice
    appears twice)."""
    if not network.is_graph:
        for i, layer in enumerate(network.layers):
            x = layer._forward(x)
            yield i, layer, x
        return
    outputs = {-1: x}    # the input is reference -1, call k's output reference k
    for k, (i, refs, takes_list) in enumerate(network._chain.nodes):
        args = [outputs[ref] for ref in refs]
        outputs[k] = network.layers[i]._forward(args if takes_list else args[0])
        yield i, network.layers[i], outputs[k]


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
    calls = {}      # how many times each layer ran so far (a graph may call one twice)
    for i, layer, x in _layer_outputs(network, x):
        calls[i] = calls.get(i, 0) + 1
        if x.ndim == 4:
            key = f"layer{i + 1}" + (f"_call{calls[i]}" if calls[i] > 1 else "")
            stages[key] = x[0, ..., :max_maps]
            captions[key] = (f"{type(layer).__name__} (layer {i + 1}"
                             + (f", call {calls[i]})" if calls[i] > 1 else ")"))
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

