import numpy as np
from numpy.typing import NDArray

def _maxpool2d_forward(
    x: NDArray[np.floating],      # (N, H, W, C), C-contiguous
    out: NDArray[np.floating],    # (N, Ho, Wo, C), written
    size: int,
    stride: int,
    n_threads: int,
) -> None: ...
def _relu(x: NDArray[np.floating], out: NDArray[np.floating], n_threads: int) -> None: ...
def _sigmoid(x: NDArray[np.floating], out: NDArray[np.floating], n_threads: int) -> None: ...
