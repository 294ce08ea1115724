import numpy as np
from numpy.typing import NDArray

# x, grad, out, grad_x: (M, C) C-contiguous rows of one float dtype.
def _channel_sums(
    x: NDArray[np.floating], center: NDArray[np.float64], squared: bool,
    partial: NDArray[np.float64],     # (>= threads, C) workspace
    total: NDArray[np.float64],       # (C,), written
    n_threads: int,
) -> None: ...
def _backward_sums(
    x: NDArray[np.floating], grad: NDArray[np.floating], mean: NDArray[np.float64],
    partial: NDArray[np.float64],     # (>= threads, 2*C) workspace
    sum_g: NDArray[np.float64], sum_gx: NDArray[np.float64],   # (C,), written
    n_threads: int,
) -> None: ...
def _scale_shift(
    x: NDArray[np.floating], scale: NDArray[np.floating], shift: NDArray[np.floating],
    out: NDArray[np.floating], n_threads: int,
) -> None: ...
def _backward_apply(
    x: NDArray[np.floating], grad: NDArray[np.floating], mean: NDArray[np.floating],
    a: NDArray[np.floating], b: NDArray[np.floating], k: NDArray[np.floating],
    grad_x: NDArray[np.floating], n_threads: int,
) -> None: ...
