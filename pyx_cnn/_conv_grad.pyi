import numpy as np
from numpy.typing import NDArray

def _conv2d_backward_input(
    grad_out: NDArray[np.floating],   # (N, Ho, Wo, F)
    w: NDArray[np.floating],          # (kh, kw*C, F), the forward kernel's layout
    grad_x: NDArray[np.floating],     # (N, Hp, Wp, C), padded, overwritten
    sh: int,
    sw: int,
    dh: int,
    dw: int,
    n_threads: int,
) -> None: ...
def _grouped_backward_input(
    grad_out: NDArray[np.floating],   # (N, Ho, Wo, F)
    w: NDArray[np.floating],          # (groups, kh*kw*C//groups, F//groups)
    grad_x: NDArray[np.floating],     # (N, Hp, Wp, C), padded, overwritten
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    dh: int,
    dw: int,
    n_threads: int,
) -> None: ...
def _grouped_forward(
    x: NDArray[np.floating],          # (N, Hp, Wp, C), padded
    w: NDArray[np.floating],          # (groups, kh*kw*C//groups, F//groups)
    bias: NDArray[np.floating],       # (F,)
    out: NDArray[np.floating],        # (N, Ho, Wo, F), overwritten
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    dh: int,
    dw: int,
    n_threads: int,
) -> None: ...
def _grouped_filter_grad(
    x: NDArray[np.floating],          # (N, Hp, Wp, C), padded input of the forward pass
    grad_out: NDArray[np.floating],   # (N, Ho, Wo, F)
    grad_w: NDArray[np.floating],     # (groups, F//groups, kh*kw*C//groups), overwritten
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    dh: int,
    dw: int,
    n_threads: int,
) -> None: ...
