import numpy as np
from numpy.typing import NDArray

# (N, H, W, C) <-> (N, H*sh, W*sw, C), C-contiguous, one float dtype.
def _upsample_nearest(
    x: NDArray[np.floating], out: NDArray[np.floating], sh: int, sw: int, n_threads: int
) -> None: ...
def _upsample_nearest_backward(
    grad_out: NDArray[np.floating], grad_x: NDArray[np.floating], sh: int, sw: int,
    n_threads: int,
) -> None: ...
