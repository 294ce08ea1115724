"""``gradcheck``: compare a layer's (or a network's) gradients with finite differences.

The tool to test a layer you write::

    import numpy as np, pyx_cnn
    from pyx_cnn import layers
    x = np.random.default_rng(0).standard_normal((2, 5, 5, 3))
    pyx_cnn.gradcheck(layers.Conv2D(4, 3), x)      # True, or AssertionError

Every parameter gradient (``grads[key]``, from ``backward``) and the input
gradient are compared, element by element, with central differences
``(L(w + eps) - L(w - eps)) / (2 eps)`` in float64. The loss is, for a layer,
``sum(P * layer.forward(x))`` with a fixed random projection ``P`` (so every
output element counts, with its own weight), and for a network its loss on
`y` (or the same projection of its output when `y` is None).
"""
import numpy as np

from ._validation import as_array

__all__ = ["gradcheck"]


def _check_close(name, analytical, numerical, rtol, atol):
    analytical = np.asarray(analytical, dtype=np.float64)
    bad = ~(np.abs(analytical - numerical) <= atol + rtol * np.abs(numerical))
    if bad.any():
        idx = np.unravel_index(np.argmax(bad), bad.shape) if bad.ndim else ()
        a, n = float(analytical[idx]), float(numerical[idx])
        where = f"{name}[{', '.join(map(str, idx))}]" if idx else name
        raise AssertionError(
            f"{where}: backward gives {a!r}, finite differences {n!r} (difference "
            f"{abs(a - n):.3g} > atol + rtol * |numerical| = {atol + rtol * abs(n):.3g}; "
            f"{int(bad.sum())} of {bad.size} elements differ)")


def _numerical(f, array, eps):
    """Central differences of the scalar `f()` with respect to every element of `array`."""
    grad = np.empty(array.shape)
    flat, out = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        plus = f()
        flat[i] = saved - eps
        minus = f()
        flat[i] = saved
        out[i] = (plus - minus) / (2 * eps)
    return grad


def gradcheck(layer_or_network, x, y=None, *, eps=1e-6, rtol=1e-5, atol=1e-8, training=False):
    """Check every parameter gradient and the input gradient against finite differences.

    Parameters
    ----------
    layer_or_network : pyx_cnn.layers.Layer or NeuralNetwork
        A layer of one input, or a network (a chain or a graph); in float64 (a layer not built yet is built for `x`, in float64).
    x : array_like
        A batch of inputs (kept small: two forward passes per element checked).
    y : array_like, optional
        Targets, for a network: its loss on them (as ``fit`` would choose it).
        None: a fixed random projection of the output.
    eps : float, optional
        The finite-difference step.
    rtol, atol : float, optional
        ``|backward - numerical| <= atol + rtol * |numerical|`` must hold for every element.
    training : bool, optional
        Run the forward passes in training mode (a layer whose training
        forward is random, such as Dropout, cannot be checked so).

    Returns
    -------
    True

    Raises
    ------
    AssertionError
        Naming the first gradient (layer, key and index, or the input) that
        differs, both values and the difference.
    TypeError, ValueError
        For a float32 layer or network, or a bad argument.
    """
    from .network import NeuralNetwork
    from .layers import Layer

    x = np.array(as_array(x, "x"), dtype=np.float64)
    for name, value in (("eps", eps), ("rtol", rtol), ("atol", atol)):
        if not isinstance(value, (int, float, np.floating)) or not value >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    if eps == 0:
        raise ValueError("eps must be > 0")
    if isinstance(layer_or_network, NeuralNetwork):
        return _check_network(layer_or_network, x, y, eps, rtol, atol, training)
    if isinstance(layer_or_network, Layer):
        if layer_or_network.takes_list:
            raise TypeError(f"gradcheck checks a layer of one input; check the merge layer "
                            f"{type(layer_or_network).__name__} inside a NeuralNetwork")
        if y is not None:
            raise ValueError("y is for a network; a layer is checked with a projection of "
                             "its output")
        return _check_layer(layer_or_network, x, eps, rtol, atol, training)
    raise TypeError("gradcheck checks a pyx_cnn.layers layer or a NeuralNetwork, got "
                    f"{type(layer_or_network).__name__}")


def _float64_only(dtype, what):
    if dtype is not None and np.dtype(dtype) != np.float64:
        raise TypeError(f"gradcheck needs a float64 {what} (finite differences in float32 "
                        f"are too coarse), got {np.dtype(dtype)}")


def _saved_states(layers):
    return [{k: np.array(v, copy=True) for k, v in (getattr(layer, "state", None) or {}).items()}
            for layer in layers]


def _restore_states(layers, saved):
    for layer, state in zip(layers, saved):
        for key, value in state.items():
            layer.state[key][...] = value


def _check_layer(layer, x, eps, rtol, atol, training):
    if not layer.built:
        layer.build(x.shape[1:], rng=np.random.default_rng(0), dtype=np.float64)
    _float64_only(layer.dtype, "layer")
    saved = _saved_states([layer])
    out = layer.forward(x, training=training)
    projection = np.random.default_rng(12345).standard_normal(out.shape)

    def loss():
        _restore_states([layer], saved)
        return float(np.sum(projection * layer.forward(x, training=training)))

    loss()
    grad_x = np.array(layer.backward(projection), dtype=np.float64)
    grads = {key: np.array(value, dtype=np.float64) for key, value in layer.grads.items()}
    name = type(layer).__name__
    for key, value in layer.params.items():
        _check_close(f"{name} grads[{key!r}]", grads[key], _numerical(loss, value, eps),
                     rtol, atol)
    _check_close(f"{name} input gradient dL/dx", grad_x, _numerical(loss, x, eps), rtol, atol)
    _restore_states([layer], saved)
    return True


def _check_network(net, x, y, eps, rtol, atol, training):
    from ._fit_arguments import resolve_loss
    from .training_loop import accuracy_labels

    _float64_only(net.dtype, "network")
    x = net._prepare_x(x).copy()
    net._check_bound()
    saved = _saved_states(net.layers)
    loss_fn = labels = projection = None
    if y is not None:
        y = net._prepare_y(y, x.shape[0])
        loss_fn = resolve_loss(net, None, y)
        labels = accuracy_labels(y, loss_fn)
    else:
        projection = np.random.default_rng(12345).standard_normal(
            (x.shape[0],) + net.output_shape)
    plan = net._chain.plan(loss_fn, fuse=False)

    def value_grad():
        _restore_states(net.layers, saved)
        out = plan.forward(x, training)
        if projection is None:
            value, grad, _ = plan.loss_value_grad(out, y, labels)
            return value, grad
        return float(np.sum(projection * out)), projection

    def loss():
        return value_grad()[0]

    _, grad = value_grad()
    # dL/dx is checked too: the layers reading the input (the first, in a chain) compute it
    needed = [layer.needs_input_grad for layer in net.layers]
    try:
        for layer in net.layers:
            layer.needs_input_grad = True
        grad_x = np.array(plan.backward(grad), dtype=np.float64)
    finally:
        for layer, value in zip(net.layers, needed):
            layer.needs_input_grad = value
    analytical = net.flat_grads.copy()
    offset = 0
    for layer, key, view, _ in net._params.bound:
        index = net.layers.index(layer)
        part = analytical[offset:offset + view.size].reshape(view.shape)
        _check_close(f"layers[{index}] ({type(layer).__name__}) grads[{key!r}]", part,
                     _numerical(loss, view, eps), rtol, atol)
        offset += view.size
    _check_close("input gradient dL/dx", grad_x, _numerical(loss, x, eps), rtol, atol)
    _restore_states(net.layers, saved)
    return True
