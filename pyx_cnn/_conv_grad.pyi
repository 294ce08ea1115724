import numpy as np
from numpy.typing import NDArray

def _conv2d_backward_input(
    grad_out: NDArray[np.floating],   # (N, Ho, Wo, F)
    w: NDArray[np.floating],          # (kh, kw*C, F), the forward kernel's layout
    grad_x: NDArray[np.floating],     # (N, Hp, Wp, C), padded, overwritten
    stride: int,
    n_threads: int,
) -> None: ...
def _conv2d_backward_weights(
    x: NDArray[np.floating],          # (N, Hp, Wp, C), padded input of the forward pass
    grad_out: NDArray[np.floating],   # (N, Ho, Wo, F)
    grad_w: NDArray[np.floating],     # (kh, kw*C, F), overwritten
    grad_b: NDArray[np.floating],     # (F,), overwritten
    stride: int,
    n_threads: int,
) -> None: ...
def _im2col(
    x: NDArray[np.floating],          # (N, Hp, Wp, C), padded
    cols: NDArray[np.floating],       # (N*Ho*Wo, kh*kw*C [+ 1: a column of ones]), written
    kh: int,
    kw: int,
    stride: int,
    n_threads: int,
) -> None: ...
