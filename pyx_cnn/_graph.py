"""The order a graph network runs its layers in: any directed acyclic graph from one
input to one output.

:class:`Graph` has the methods of :class:`pyx_cnn._chain.Chain` (``layers``,
``build``, ``final_activation``, ``plan``, ``summary_rows``) and nothing else,
so :class:`~pyx_cnn.NeuralNetwork` trains, evaluates and saves a graph as a chain.

The graph is what calling layers on symbolic tensors recorded
(:mod:`pyx_cnn.layers.input`): each call is a *node* (a layer and the tensors it
read). :class:`Graph` walks back from the output to the input and puts the nodes
in a topological order (every node after the nodes it reads, the output's
last); ``layers`` holds each layer object once, in the order of its first node.

Running it (:class:`GraphPlan`): the nodes form straight *runs*, each node of a
run reading the one before it and being its only reader. Each run is planned as
a chain (:func:`pyx_cnn.fusion.plan`: the fusion rules apply inside a run), and
the runs run in topological order, each output kept until its last reader has
run. Backward goes the other way; a tensor read by several nodes receives the
sum of their gradients.

A layer called more than once (weights shared, as in Keras) keeps what its
forward pass saves for the backward pass on itself, so the plan keeps a copy of
the layer's attributes after each call and puts it back before that call's
backward pass; the weight gradients of its calls are summed. Such a layer
always runs on its own (no fusion).
"""
from typing import NamedTuple

from . import fusion
from . import layers as _layers
from ._chain import Plan, loss_takes_logits
from .layers.input import SymbolicTensor
from ._validation import shape_str
from .ops import add as add_op

__all__ = ["Graph", "GraphPlan"]

#: the tensor reference of the network's input (a node's output is its index)
INPUT = -1


def _name(layer):
    return f"{type(layer).__name__} layer {layer!r}"


def _single_tensor(value, what):
    """`value` as one SymbolicTensor (a list of one is taken too)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ValueError(f"{what} must be one SymbolicTensor (a network has one input and "
                             f"one output), got a {type(value).__name__} of {len(value)}")
        value = value[0]
    if not isinstance(value, SymbolicTensor):
        raise TypeError(f"{what} must be a SymbolicTensor (pyx_cnn.layers.Input, or what "
                        f"calling layers on it returns), got {type(value).__name__}")
    return value


def topological_nodes(inputs, outputs):
    """The nodes `outputs` is computed by, every node after those it reads (depth first,
    inputs in order), the output's node last. ValueError naming the layer for a
    second Input, or a cycle."""
    order, done, active = [], set(), set()
    stack = [(outputs.node, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            active.discard(id(node))
            done.add(id(node))
            order.append(node)
            continue
        if id(node) in done:
            continue
        if id(node) in active:
            raise ValueError(f"the graph has a cycle through the {_name(node.layer)}")
        active.add(id(node))
        stack.append((node, True))
        for tensor in reversed(node.inputs):
            if tensor.node is None:
                if tensor is not inputs:
                    raise ValueError(
                        f"the {_name(node.layer)} reads an Input that is not the network's "
                        "inputs: a network has one Input, and every layer's tensors come "
                        "from it")
            elif id(tensor.node) in active:
                raise ValueError(f"the graph has a cycle through the {_name(tensor.node.layer)}")
            elif id(tensor.node) not in done:
                stack.append((tensor.node, False))
    return order


class Graph:
    """Layers run as the graph from `inputs` to `outputs` says.

    Parameters
    ----------
    inputs : SymbolicTensor
        What :func:`pyx_cnn.layers.Input` returned.
    outputs : SymbolicTensor
        Computed from `inputs` by calling layers.

    Attributes
    ----------
    layers : list of Layer
        Each layer object once, in topological order.
    input_shape : tuple of int
        The Input's shape as given (``(H, W)`` for one channel).
    inputs, outputs : SymbolicTensor
        As given (a network of the same layers is ``NeuralNetwork(inputs=graph.inputs,
        outputs=graph.outputs, ...)``).
    nodes : list of (int, tuple of int, bool)
        Per layer call, in topological order: the layer's index in `layers`, the
        tensors it reads (``-1`` the input, ``k`` node k's output) and whether it
        takes them as a list (a merge layer).
    """

    def __init__(self, inputs, outputs):
        inputs = _single_tensor(inputs, "inputs")
        outputs = _single_tensor(outputs, "outputs")
        if not inputs.is_input:
            raise ValueError("inputs must be what pyx_cnn.layers.Input returned, got a tensor "
                             f"computed by the {_name(inputs.node.layer)}")
        if outputs.is_input:
            which = "the network's inputs" if outputs is inputs else "another Input"
            raise ValueError(f"outputs is {which}, computed by no layer: a network needs at "
                             "least one layer")
        if outputs.root is not inputs:
            raise ValueError(f"outputs (computed by the {_name(outputs.node.layer)}) does not "
                             "depend on inputs: it is computed from another Input")
        order = topological_nodes(inputs, outputs)
        self.layers, index = [], {}
        for node in order:
            if id(node.layer) not in index:
                index[id(node.layer)] = len(self.layers)
                self.layers.append(node.layer)
        position = {id(node): k for k, node in enumerate(order)}
        self.nodes = [(index[id(node.layer)],
                       tuple(INPUT if t.node is None else position[id(t.node)]
                             for t in node.inputs), node.takes_list) for node in order]
        self.input_shape = inputs.input_shape
        self.inputs, self.outputs = inputs, outputs
        self._readers = _readers(self.nodes)

    # ------------------------------------------------------------------ build
    def build(self, sample_shape, rng, dtype):
        """Build every layer for the shapes flowing into it, in topological order; returns
        the output shape. A layer called several times is built once and must see one
        input shape. A layer whose only reader is an activation layer is initialised for
        that activation (``init_for``), as in a chain; one that reads only the input
        skips its input gradient (``needs_input_grad``)."""
        shapes, built = {INPUT: tuple(sample_shape)}, {}
        for k, (i, refs, takes_list) in enumerate(self.nodes):
            layer = self.layers[i]
            in_shape = [shapes[r] for r in refs] if takes_list else shapes[refs[0]]
            if i in built:
                if built[i] != in_shape:
                    raise ValueError(
                        f"layers[{i}] ({type(layer).__name__}) is called on input shapes "
                        f"{_shapes(built[i])} and {_shapes(in_shape)}: a layer called "
                        "several times shares its weights and takes one input shape")
                shapes[k] = tuple(layer.output_shape)
                continue
            readers = self._readers.get(k, [])
            following = self.layers[self.nodes[readers[0]][0]] if len(readers) == 1 else None
            init_for = following.activation if isinstance(
                following, _layers.ActivationLayer) else None
            try:
                shapes[k] = tuple(layer.build(in_shape, rng=rng, dtype=dtype,
                                              init_for=init_for))
            except ValueError as exc:
                raise ValueError(f"layers[{i}] ({type(layer).__name__}): {exc}") from None
            built[i] = in_shape
        for i, layer in enumerate(self.layers):
            layer.needs_input_grad = any(refs != (INPUT,) for j, refs, _ in self.nodes if j == i)
        return shapes[len(self.nodes) - 1]

    @property
    def final_activation(self):
        """The activation the output's layer applies (None when it applies none)."""
        return getattr(self.layers[self.nodes[-1][0]], "activation", None)

    def plan(self, loss=None, fuse=True):
        """The :class:`GraphPlan` that runs the graph for `loss` (None: no loss, as predict)."""
        return GraphPlan(self, loss, fuse)

    def summary_rows(self, loss=None):
        """One row of strings per layer: name, output shape, parameter count, the layers
        it reads (``input`` for the network's input; each call's, separated by ``|``, for a
        layer called several times) and the fusion rule it runs by in the plan for `loss`."""
        fused = {i: step.rule for step in self.plan(loss).steps for i in step.layers}
        rows = []
        for i, layer in enumerate(self.layers):
            calls = [", ".join(self._ref_name(r) for r in refs)
                     for j, refs, _ in self.nodes if j == i]
            rows.append((f"{i}: {type(layer).__name__}",
                         str((None,) + tuple(layer.output_shape)),
                         str(layer.count_params()), " | ".join(calls), fused.get(i, "")))
        return rows

    def _ref_name(self, ref):
        if ref == INPUT:
            return "input"
        i = self.nodes[ref][0]
        return f"{i}: {type(self.layers[i]).__name__}"

    def shared(self):
        """Indices of the layers called more than once."""
        counts = {}
        for i, _, _ in self.nodes:
            counts[i] = counts.get(i, 0) + 1
        return {i for i, count in counts.items() if count > 1}

    def runs(self):
        """The nodes as straight runs: lists of node indices, each node of a run reading the
        one before it alone and being its only reader (neither layer called elsewhere). In
        the order of their last nodes (a topological order of the runs)."""
        shared = self.shared()
        run_of, runs = {}, []
        for k, (i, refs, takes_list) in enumerate(self.nodes):
            before = refs[0]
            if (not takes_list and before != INPUT and len(self._readers[before]) == 1
                    and i not in shared and self.nodes[before][0] not in shared):
                run = run_of[before]
            else:
                run = []
                runs.append(run)
            run.append(k)
            run_of[k] = run
        return sorted(runs, key=lambda run: run[-1])


def _readers(nodes):
    """``{tensor: [nodes that read it]}`` (a node reading a tensor twice counts once)."""
    readers = {}
    for k, (_, refs, _) in enumerate(nodes):
        for ref in dict.fromkeys(refs):
            readers.setdefault(ref, []).append(k)
    return readers


def _shapes(shape):
    if shape and isinstance(shape[0], (tuple, list)):
        return "[" + ", ".join(shape_str(s) for s in shape) + "]"
    return shape_str(shape)


class _Item(NamedTuple):
    """One step of a graph plan, wired: the step, the tensors it reads, whether it takes
    them as a list, the tensor it writes, and its shared layer (or None)."""
    step: fusion.Step
    inputs: tuple
    takes_list: bool
    output: int
    shared: object


class GraphPlan(Plan):
    """How a graph runs for one loss: the fusion steps of each run, forward and backward.

    Attributes
    ----------
    steps : list of pyx_cnn.fusion.Step
        In the order they run; ``step.layers`` index the graph's ``layers``.
    loss : Loss or None
    """

    def __init__(self, graph, loss=None, fuse=True):
        takes_logits = loss_takes_logits(loss, graph.final_activation)
        shared = graph.shared()
        last = len(graph.nodes) - 1
        self._items = []
        for run in graph.runs():
            layers = [graph.layers[graph.nodes[k][0]] for k in run]
            logits = fuse and takes_logits and run[-1] == last
            for step in fusion.plan(layers, fuse, logits):
                first, end = run[step.layers[0]], run[step.layers[-1]]
                i, refs, takes_list = graph.nodes[first]
                self._items.append(_Item(
                    step._replace(layers=tuple(graph.nodes[run[j]][0] for j in step.layers)),
                    refs, takes_list, end, graph.layers[i] if i in shared else None))
        self.steps = [item.step for item in self._items]
        self._output = last
        self._reads = {}
        for item in self._items:
            for ref in item.inputs:
                self._reads[ref] = self._reads.get(ref, 0) + 1
        self._calls = {}    # a shared layer's attributes after each of its calls
        self._set_loss(loss, takes_logits)

    def forward(self, x, training=False):
        """The network's output for a batch (logits when the loss takes them)."""
        values, reads = {INPUT: x}, dict(self._reads)
        self._calls.clear()
        for item in self._items:
            args = [values[ref] for ref in item.inputs]
            values[item.output] = item.step.forward(args if item.takes_list else args[0],
                                                    training)
            if item.shared is not None:
                self._calls[item.output] = dict(vars(item.shared))
            for ref in item.inputs:       # drop what no later step reads
                reads[ref] -= 1
                if reads[ref] == 0:
                    del values[ref]
        return values[self._output]

    def backward(self, grad):
        """Fill every layer's ``grads`` from ``dL/d(output)``; returns ``dL/d(input)``, the
        sum over the layers reading the input (None when one of them skips it:
        ``needs_input_grad`` False)."""
        grads, sums, partial = {self._output: grad}, {}, False
        for item in reversed(self._items):
            grad = grads.pop(item.output)
            if item.shared is not None:
                vars(item.shared).update(self._calls[item.output])
            result = item.step.backward(grad)
            if item.shared is not None:
                _add_weight_grads(sums, item.shared)
            for ref, part in zip(item.inputs, result if item.takes_list else (result,)):
                if part is None:       # a layer reading the input skipped its gradient
                    partial = True
                else:
                    grads[ref] = part if ref not in grads else add_op.total(grads[ref], part)
        for layer, total in sums.values():
            for key, value in total.items():
                layer.grads[key][...] = value
        return None if partial else grads.get(INPUT)


def _add_weight_grads(sums, layer):
    """Add the weight gradients `layer`'s backward pass just wrote to its running sums."""
    entry = sums.get(id(layer))
    if entry is None:
        sums[id(layer)] = (layer, {key: value.copy() for key, value in layer.grads.items()})
    else:
        for key, value in layer.grads.items():
            entry[1][key] += value
