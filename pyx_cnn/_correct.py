"""How many samples of a batch a network gets right: the accuracy the losses report.

A sample is right when its output row's arg-max (the last axis) is its label,
or, for a one-output network on 0/1 labels, when the output is on the label's
side of 0.5. For an image-shaped output (one row per pixel) a sample counts as
the fraction of its pixels that are right.
"""
import numpy as np

__all__ = ["count_binary", "count_by_output", "count_correct"]


def count_binary(positive, labels):
    """Positions whose prediction (`positive`, of the output's shape: ``(N, 1)``,
    ``(N, H, W, 1)``) matches the 0/1 label, counted in samples as :func:`count_correct`."""
    if labels is None:
        return None
    hits = int(np.count_nonzero(positive.reshape(labels.shape) == (labels != 0)))
    per_sample = labels.size // labels.shape[0]
    return hits if per_sample == 1 else hits / per_sample


def count_by_output(output, labels):
    """Correct samples for a loss that does not count them itself: arg-max rows, or for
    one output, the side of 0.5."""
    if output.shape[-1] == 1:   # 0/1 labels of one output: right on the label's side of 0.5
        return count_binary(output > 0.5, labels)
    return count_correct(output, labels)


def count_correct(output, labels):
    """Rows whose arg-max (last axis) is the label, counted in samples (see above)."""
    if labels is None:
        return None
    hits = int(np.count_nonzero(output.argmax(axis=-1).reshape(-1) == labels.reshape(-1)))
    per_sample = labels.size // output.shape[0]
    return int(hits) if per_sample == 1 else hits / per_sample
