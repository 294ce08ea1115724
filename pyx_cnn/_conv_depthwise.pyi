import numpy as np
from numpy.typing import NDArray

Pair = tuple[int, int]     # (along H, along W)

def _min_channels(is_double: bool) -> int: ...
def _lanes(channels: int, is_double: bool) -> int: ...
def _depthwise_forward(
    x: NDArray[np.floating],      # (N, H, W, C), not padded
    w: NDArray[np.floating],      # (kh, kw, C)
    bias: NDArray[np.floating],   # (C,)
    out: NDArray[np.floating],    # (N, Ho, Wo, C), written
    stride: Pair,
    pads: Pair,                   # (top, left), any sign
    dilation: Pair,
    n_threads: int,
    clamp_max: float | None = None,   # min(max(v, 0), clamp_max) stored
) -> None: ...
def _depthwise_input_grad(
    grad_out: NDArray[np.floating],   # (N, Ho, Wo, C)
    w: NDArray[np.floating],          # (kh, kw, C)
    grad_x: NDArray[np.floating],     # (N, H, W, C), overwritten
    stride: Pair,
    pads: Pair,                       # (top, left) >= 0 of the forward pass
    dilation: Pair,
    n_threads: int,
) -> None: ...
def _depthwise_filter_grad(
    x: NDArray[np.floating],          # (N, H, W, C), the forward pass's input
    grad_out: NDArray[np.floating],   # (N, Ho, Wo, C)
    grad_w: NDArray[np.floating],     # (kh, kw, C), overwritten
    grad_b: NDArray[np.floating],     # (C,), overwritten
    stride: Pair,
    pads: Pair,
    dilation: Pair,
    n_threads: int,
) -> None: ...
