import numpy as np
from numpy.typing import NDArray

def _matmul(
    a: NDArray[np.floating],      # (m, k), or (k, m) with trans_a; C-contiguous
    b: NDArray[np.floating],      # (k, n), or (n, k) with trans_b; C-contiguous
    out: NDArray[np.floating],    # (m, n), C-contiguous, written
    trans_a: bool,
    trans_b: bool,
    n_threads: int,
    bias: NDArray[np.floating] | None = None,   # (n,), added to every row
) -> None: ...
def _dense_backward(
    x: NDArray[np.floating],              # (m, k), C-contiguous
    weights: NDArray[np.floating],        # (k, n), C-contiguous
    grad_out: NDArray[np.floating],       # (m, n), C-contiguous
    grad_weights: NDArray[np.floating],   # (k, n), written: x.T @ grad_out
    grad_bias: NDArray[np.floating] | None,   # (n,), written: grad_out's column sums
    grad_x: NDArray[np.floating] | None,      # (m, k), written: grad_out @ weights.T
    n_threads: int,
) -> None: ...
