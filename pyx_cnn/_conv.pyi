import numpy as np
from numpy.typing import NDArray

def _isa() -> str: ...
def _algorithm(n_filters: int, stride: int) -> str: ...   # "planar" or "direct"
def _direct_lanes(n_filters: int, is_double: bool) -> int: ...
def _direct_pairs(n_filters: int, channels: int, stride: int, w_out: int,
                  is_double: bool) -> bool: ...
def _conv2d_forward(
    x: NDArray[np.floating],      # (N, Hp, Wp, C), padded, C-contiguous
    w: NDArray[np.floating],      # (kh, kw*C, F)
    bias: NDArray[np.floating],   # (F,)
    out: NDArray[np.floating],    # (N, Ho, Wo, F), written
    stride: int,
    n_threads: int,
) -> None: ...
