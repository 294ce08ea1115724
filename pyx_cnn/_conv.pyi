import numpy as np
from numpy.typing import NDArray

IntOrPair = int | tuple[int, int]     # (along H, along W)

def _isa() -> str: ...
def _algorithm(
    x_shape: tuple[int, int, int, int],   # (N, Hp, Wp, C), padded
    w_shape: tuple[int, int, int],        # (kh, kw*C, F)
    stride: IntOrPair = 1,
    dilation: IntOrPair = 1,
    dtype: object = ...,
    gradient: bool = False,
    finite: bool = True,
) -> str: ...   # "planar", "paired", "tap_paired", "direct"; "transposed", "windows_blas"
def _direct_lanes(n_filters: int, is_double: bool) -> int: ...
def _conv2d_forward(
    x: NDArray[np.floating],      # (N, Hp, Wp, C), padded, C-contiguous
    w: NDArray[np.floating],      # (kh, kw*C, F)
    bias: NDArray[np.floating],   # (F,)
    out: NDArray[np.floating],    # (N, Ho, Wo, F), written
    stride: IntOrPair,
    n_threads: int,
    dilation: IntOrPair = 1,
    clamp_max: float | None = None,   # min(max(v, 0), clamp_max) stored
    kept: dict | None = None,         # packed weights kept for the next calls (_kept_weights)
    zero_rows: tuple[int, int] = (0, 0),   # (top, bottom) rows of zeros in each image
) -> None: ...
def _conv2d_filter_grad(
    x: NDArray[np.floating],          # (N, Hp, Wp, C), padded input of the forward pass
    grad_out: NDArray[np.floating],   # (N, Ho, Wo, F)
    grad_w: NDArray[np.floating],     # (kh, kw*C, F), overwritten
    grad_b: NDArray[np.floating],     # (F,), overwritten
    stride: IntOrPair,
    n_threads: int,
    dilation: IntOrPair = 1,
) -> None: ...
def _pad_copy(
    src: NDArray[np.floating],        # (N, h, w, C), rows of w*C values contiguous
    out: NDArray[np.floating],        # (N, Hp, Wp, C), written: src at (top, left), zeros around
    top: int,
    left: int,
    n_threads: int,
) -> None: ...
