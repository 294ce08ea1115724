import numpy as np
from numpy.typing import NDArray

def _avgpool2d_forward(
    x: NDArray[np.floating],          # (N, H, W, C), C-contiguous
    out: NDArray[np.floating],        # (N, Ho, Wo, C), written
    size: int,
    stride: int,
    n_threads: int,
    pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),   # (top, bottom), (left, right)
    count_include_pad: bool = True,
) -> None: ...
def _avgpool2d_backward(
    grad_out: NDArray[np.floating],   # (N, Ho, Wo, C)
    grad_x: NDArray[np.floating],     # (N, H, W, C), overwritten
    size: int,
    stride: int,
    n_threads: int,
    pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),   # (top, bottom), (left, right)
    count_include_pad: bool = True,
) -> None: ...
def _global_avgpool_forward(
    x: NDArray[np.floating],          # (N, H, W, C)
    out: NDArray[np.floating],        # (N, C), written
    acc: NDArray[np.float64],         # (N, C), workspace: the sums
    n_threads: int,
) -> None: ...
def _global_avgpool_backward(
    grad_out: NDArray[np.floating], grad_x: NDArray[np.floating], n_threads: int
) -> None: ...
def _global_maxpool_forward(
    x: NDArray[np.floating],          # (N, H, W, C)
    out: NDArray[np.floating],        # (N, C), written
    argmax: NDArray[np.int64],        # (N, C), written: pixel index iy*W + ix
    n_threads: int,
) -> None: ...
def _global_maxpool_backward(
    grad_out: NDArray[np.floating], argmax: NDArray[np.int64], grad_x: NDArray[np.floating],
    n_threads: int,
) -> None: ...
