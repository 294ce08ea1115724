import numpy as np
from numpy.typing import NDArray

def _softmax_cross_entropy_labels(
    z: NDArray[np.floating],        # (N, K) logits, C-contiguous
    labels: NDArray[np.int64],      # (N,), each in [0, K)
    grad: NDArray[np.floating],     # (N, K), written: (softmax(z) - onehot) / N
) -> tuple[float, int]: ...         # mean loss, rows whose arg-max is the label
