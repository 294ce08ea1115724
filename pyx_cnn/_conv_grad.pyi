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
