"""pyx_cnn.reference: every op of pyx_cnn.ops names its plain-loop reference, which
exists, and the op computes what the reference computes (here for the ops the other
tests do not compare with it: the activations and their backward passes, global
pooling, batch normalisation, dropout and the loss; conv and pooling are checked
against pyx_cnn.reference throughout test_conv, test_pooling, test_grad_kernels and
test_properties_geometry_and_layers)."""
import importlib
import inspect
import pkgutil
import re

import numpy as np
import pytest

import pyx_cnn
import pyx_cnn.ops
from pyx_cnn import reference
from pyx_cnn.losses import SoftmaxCrossEntropy
from pyx_cnn.ops import (
    activations, avg_pool, batch_norm, conv, dropout, global_avg_pool, global_max_pool, max_pool,
)
from pyx_cnn.ops.activations import ACTIVATIONS

RNG = np.random.default_rng(11)
X = np.concatenate([RNG.standard_normal(200) * 30, [0.0, -0.0, 800.0, -800.0, np.nan]])


# --- every op names its reference ----------------------------------------------------

def named_references(doc):
    """The ``pyx_cnn.reference.<name>`` entries of a numpydoc ``See Also`` section."""
    match = re.search(r"^\s*See Also\n\s*-{8,}\n(.*?)(?:\n\s*\n|\Z)", doc or "", re.S | re.M)
    if match is None:
        return []
    return re.findall(r"^\s*pyx_cnn\.reference\.(\w+)\s*:", match.group(1), re.M)


def missing_references(functions):
    """``{qualified name: problem}`` for functions without a reference or naming one
    that pyx_cnn.reference lacks."""
    problems = {}
    for name, fn in functions.items():
        names = named_references(inspect.getdoc(fn))
        if not names:
            problems[name] = "no pyx_cnn.reference entry in its See Also section"
        for ref in names:
            if ref not in reference.__all__ or not callable(getattr(reference, ref, None)):
                problems[name] = f"names pyx_cnn.reference.{ref}, which does not exist"
    return problems


def op_functions():
    """Every public forward and backward pass of the modules of pyx_cnn.ops: ``forward``,
    ``forward_infer``, ``backward`` and, in activations, ``<name>_forward`` /
    ``<name>_backward`` (the linear activation, the identity, has no reference)."""
    found = {}
    for info in pkgutil.iter_modules(pyx_cnn.ops.__path__):
        module = importlib.import_module(f"pyx_cnn.ops.{info.name}")
        for name, fn in vars(module).items():
            if not inspect.isfunction(fn) or fn.__module__ != module.__name__:
                continue
            if name.startswith("_") or name.startswith("linear_"):
                continue
            if re.fullmatch(r"(\w+_)?(forward|forward_infer|backward)", name):
                found[f"{module.__name__}.{name}"] = fn
    return found


def test_every_op_names_a_reference_that_exists():
    functions = op_functions()
    modules = {name.rsplit(".", 1)[0] for name in functions}
    assert modules == {f"pyx_cnn.ops.{m}" for m in (
        "activations", "add", "avg_pool", "batch_norm", "concatenate", "conv", "dense", "dropout",
        "conv_transpose", "global_avg_pool", "global_max_pool", "max_pool", "upsampling",
        "zero_padding")}
    assert len(functions) >= 25
    assert missing_references(functions) == {}


def test_the_check_fails_for_a_missing_or_wrong_reference():
    def no_section(x):
        """Nothing to see."""

    def wrong_name(x):
        """A pass.

        See Also
        --------
        pyx_cnn.reference.no_such_loop : Gone.
        """

    def right(x):
        """A pass.

        See Also
        --------
        pyx_cnn.reference.conv : The loops.
        """
    assert set(missing_references({"a": no_section, "b": wrong_name, "c": right})) == {"a", "b"}


def test_every_reference_is_some_op_s_reference():
    named = set()
    for fn in op_functions().values():
        named.update(named_references(inspect.getdoc(fn)))
    # the loss's kernel lives in pyx_cnn.losses and is compared below
    assert set(reference.__all__) - named == {"softmax_cross_entropy"}


# --- the activations -----------------------------------------------------------------

@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "leaky_relu"])
def test_elementwise_kernels_equal_the_reference(name):
    np.testing.assert_allclose(getattr(pyx_cnn, name)(X), getattr(reference, name)(X),
                               rtol=2e-15, atol=0)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "leaky_relu", "softmax"])
def test_activation_backward_equals_the_reference(name):
    z = RNG.standard_normal((6, 5)) * 3
    z[0, :2] = [0.0, -0.0]
    g = RNG.standard_normal(z.shape)
    y, saved = ACTIVATIONS[name].forward(z)
    np.testing.assert_allclose(y, getattr(reference, name)(z), rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(ACTIVATIONS[name].backward(g, saved),
                               getattr(reference, f"{name}_backward")(y, g),
                               rtol=1e-13, atol=1e-15)


def test_leaky_relu_slope():
    y, saved = activations.leaky_relu_forward(X, 0.3)
    np.testing.assert_array_equal(y, reference.leaky_relu(X, 0.3))
    g = np.ones_like(X)
    np.testing.assert_array_equal(activations.leaky_relu_backward(g, saved, 0.3),
                                  reference.leaky_relu_backward(y, g, 0.3))


def test_relu_backward_equals_the_reference():
    y = pyx_cnn.relu(X)
    g = RNG.standard_normal(X.shape)
    np.testing.assert_array_equal(ACTIVATIONS["relu"].backward(g, y),
                                  reference.relu_backward(y, g))


def test_softmax_equals_the_reference():
    z = RNG.standard_normal((5, 4, 7)) * 50
    for axis in (-1, 0, 1):
        np.testing.assert_allclose(pyx_cnn.softmax(z, axis=axis), reference.softmax(z, axis),
                                   rtol=1e-13, atol=1e-300)


# --- pooling, batch norm, dropout ------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_global_pooling_equals_the_reference(dtype):
    x = RNG.standard_normal((3, 4, 5, 6)).astype(dtype)
    x[1, 2, 3, 4] = np.nan
    g = RNG.standard_normal((3, 6)).astype(dtype)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    y, saved = global_avg_pool.forward(x)
    np.testing.assert_allclose(y, reference.global_avg_pooling(x), rtol=tol, atol=tol)
    np.testing.assert_allclose(global_avg_pool.backward(g, saved),
                               reference.global_avg_pooling_backward(x, g), rtol=tol, atol=tol)
    y, saved = global_max_pool.forward(x)
    np.testing.assert_array_equal(y, reference.global_max_pooling(x))
    np.testing.assert_array_equal(global_max_pool.backward(g, saved),
                                  reference.global_max_pooling_backward(x, g))


def test_window_ops_equal_the_reference():
    x = RNG.standard_normal((2, 9, 8, 3))
    g = RNG.standard_normal((2, 4, 3, 3))
    y, saved = avg_pool.forward(x, 3, 2)
    np.testing.assert_allclose(y, reference.avg_pooling(x, 3, 2), rtol=1e-14)
    np.testing.assert_allclose(avg_pool.backward(g, saved),
                               reference.avg_pooling_backward(x, g, 3, 2), rtol=1e-14)
    y, saved = max_pool.forward(x, 3, 2)
    np.testing.assert_array_equal(y, reference.pooling(x, 3, 2))
    np.testing.assert_array_equal(max_pool.forward_infer(x, 3, 2), y)
    np.testing.assert_array_equal(max_pool.backward(g, saved),
                                  reference.pooling_backward(x, g, 3, 2))
    w = RNG.standard_normal((4, 3, 2, 3))
    b = RNG.standard_normal(4)
    pads, stride, dilation = ((2, 0), (1, 3)), (2, 1), (1, 2)
    y, saved = conv.forward(x, w, b, stride, pads, dilation)
    np.testing.assert_allclose(y, reference.conv(x, w, stride, pads, b, dilation),
                               rtol=1e-12, atol=1e-12)
    go = RNG.standard_normal(y.shape)
    for ours, ref in zip(conv.backward(go, saved),
                         reference.conv_backward(x, w, go, stride, pads, dilation)):
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 3, 2, 5), (7, 3)])
def test_batch_norm_equals_the_reference(shape):
    x = RNG.standard_normal(shape) * 3 + 1
    gamma, beta = RNG.uniform(-2, 2, shape[-1]), RNG.standard_normal(shape[-1])
    y, saved = batch_norm.forward(x, gamma, beta, 1e-3)
    ref_y, ref_mean, ref_var = reference.batch_norm_train(x, gamma, beta, 1e-3)
    np.testing.assert_allclose(y, ref_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(saved.mean, ref_mean, rtol=1e-13)
    np.testing.assert_allclose(saved.var, ref_var, rtol=1e-13)
    g = RNG.standard_normal(shape)
    for ours, ref in zip(batch_norm.backward(g, saved),
                         reference.batch_norm_backward(x, gamma, g, 1e-3)):
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    mean, var = RNG.standard_normal(shape[-1]), RNG.uniform(0.1, 2, shape[-1])
    np.testing.assert_allclose(batch_norm.forward_infer(x, gamma, beta, mean, var, 1e-3),
                               reference.batch_norm_infer(x, gamma, beta, mean, var, 1e-3),
                               rtol=1e-12, atol=1e-12)


def test_dropout_equals_the_reference_for_its_mask():
    x = RNG.standard_normal((3, 4, 5))
    x[0, 0, :2] = [np.inf, np.nan]
    y, saved = dropout.forward(x, 0.4, np.random.default_rng(3))
    np.testing.assert_array_equal(y, reference.dropout(x, saved.mask, 0.4))
    g = RNG.standard_normal(x.shape)
    np.testing.assert_array_equal(dropout.backward(g, saved),
                                  reference.dropout_backward(g, saved.mask, 0.4))


# --- the loss ------------------------------------------------------------------------

def test_cross_entropy_kernel_equals_the_reference():
    z = RNG.standard_normal((6, 3, 5)) * 10
    labels = RNG.integers(0, 5, (6, 3))
    value, grad = SoftmaxCrossEntropy()(z, labels)
    ref_value, ref_grad = reference.softmax_cross_entropy(z, labels)
    assert value == pytest.approx(ref_value, rel=1e-13)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_merge_loops_equal_torch_and_the_ops(axis):
    torch = pytest.importorskip("torch")
    from pyx_cnn.ops import add as add_op
    from pyx_cnn.ops import concatenate as concatenate_op

    rng = np.random.default_rng(axis + 5)
    a, b = rng.standard_normal((2, 3, 4, 2)), rng.standard_normal((2, 3, 4, 2))
    c = rng.standard_normal((2, 3, 4, 2))
    c = np.ascontiguousarray(np.concatenate([c, c], axis=axis))   # a longer axis to join
    g_sum = rng.standard_normal(a.shape)
    ta, tb, tc = (torch.tensor(x, requires_grad=True) for x in (a, b, c))
    (ta + tb).backward(torch.tensor(g_sum))
    np.testing.assert_allclose(reference.add([a, b]), (ta + tb).detach().numpy())
    for mine, theirs in zip(reference.add_backward([a, b], g_sum), (ta.grad, tb.grad)):
        np.testing.assert_array_equal(mine, theirs.numpy())
    joined = torch.cat([ta, tc], dim=axis)
    g_cat = rng.standard_normal(joined.shape)
    ta.grad = None
    joined.backward(torch.tensor(g_cat))
    np.testing.assert_array_equal(reference.concatenate([a, c], axis), joined.detach().numpy())
    loops = reference.concatenate_backward([a, c], g_cat, axis)
    np.testing.assert_array_equal(loops[0], ta.grad.numpy())
    np.testing.assert_array_equal(loops[1], tc.grad.numpy())
    # the ops against the loops
    out, saved = add_op.forward([a, b])
    np.testing.assert_allclose(out, reference.add([a, b]))
    for mine, loop in zip(add_op.backward(g_sum, saved), reference.add_backward([a, b], g_sum)):
        np.testing.assert_array_equal(mine, loop)
    out, saved = concatenate_op.forward([a, c], axis % 4)
    np.testing.assert_array_equal(out, reference.concatenate([a, c], axis))
    for mine, loop in zip(concatenate_op.backward(g_cat, saved), loops):
        np.testing.assert_array_equal(mine, loop)
