"""The text of :meth:`NeuralNetwork.summary <pyx_cnn.NeuralNetwork.summary>`: one row
per layer (its output shape, parameter count, the layers it reads in a graph, and
the fusion rule it runs by) and the lines under the table."""
from .losses import BinaryCrossEntropy, SoftmaxCrossEntropy

__all__ = ["summary_table"]


def _summary_loss(net):
    """The loss whose plan the summary shows: the network's own, else the one ``fit``
    picks for the labels of a network ending in a sigmoid (binary cross-entropy) or a
    softmax (cross-entropy), else None (no final activation for a loss to take over)."""
    if net.loss is not None:
        return net.loss
    activation = net._chain.final_activation
    if activation == "sigmoid":
        return BinaryCrossEntropy()
    if activation == "softmax":
        return SoftmaxCrossEntropy()
    return None


def _summary_footnote(rows, loss, own_loss):
    """The lines under the table: where the rules are described (when a layer runs
    fused) and, when the last activation is left to the loss, to which loss."""
    if not any(row[-1] for row in rows):
        return []
    lines = ["(fusion rules: pyx_cnn.fusion)"]
    if any(row[-1].endswith("_into_loss") for row in rows):
        if own_loss:
            whose = f"the network's loss {loss.name!r}"
        else:
            whose = f"the loss {loss.name!r} (the default for this output)"
        lines.append(f"(fit and evaluate leave the final {loss.activation} to {whose}, "
                     "which takes the logits)")
    return lines


def summary_table(net):
    """The text of :meth:`NeuralNetwork.summary`: the columns Layer, Output shape,
    Params, (for a graph) Reads, and Runs fused by."""
    loss = _summary_loss(net)
    layer_rows = net._chain.summary_rows(loss)
    header = ("Layer", "Output shape", "Params") + (
        ("Reads",) if len(layer_rows[0]) == 5 else ()) + ("Runs fused by",)
    rows = [header] + layer_rows
    widths = [max(len(r[j]) for r in rows) for j in range(len(header))]
    line = "-" * (sum(widths) + 2 * (len(header) - 1))
    fmt = "  ".join(f"{{:{'>' if j == 2 else '<'}{width}}}" for j, width in enumerate(widths))
    text = [f"NeuralNetwork: input {(None,) + net.input_shape}, dtype {net.dtype}",
            line, fmt.format(*rows[0]), line]
    text += [fmt.format(*r) for r in rows[1:]]
    text += [line, f"Total params: {net.count_params()}"]
    text += _summary_footnote(layer_rows, loss, own_loss=net.loss is not None)
    return "\n".join(text)
