import numpy as np
from numpy.typing import NDArray

# x, grad, out, grad_x: (M, C) C-contiguous rows of one float dtype.
def _statistics(
    x: NDArray[np.floating], eps: float,
    partial: NDArray[np.float64],     # (blocks, 3*C) workspace
    mean: NDArray[np.float64], invstd: NDArray[np.float64],
    var: NDArray[np.float64],         # (C,), written: unbiased variance
    n_threads: int,
) -> None: ...
def _normalize(
    x: NDArray[np.floating], gamma: NDArray[np.floating], beta: NDArray[np.floating],
    mean: NDArray[np.float64], invstd: NDArray[np.float64],
    out: NDArray[np.floating], n_threads: int,
) -> None: ...
def _backward(
    x: NDArray[np.floating], grad: NDArray[np.floating], gamma: NDArray[np.floating],
    mean: NDArray[np.float64], invstd: NDArray[np.float64],
    partial: NDArray[np.float64],     # (blocks, 2*C) workspace
    grad_x: NDArray[np.floating],     # (M, C), written
    grad_gamma: NDArray[np.floating], grad_beta: NDArray[np.floating],   # (C,), written
    n_threads: int,
) -> None: ...
