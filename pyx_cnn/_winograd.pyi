import numpy as np
from numpy.typing import NDArray

def filter_transform(
    filters: NDArray[np.floating], dtype: object, n_threads: int = 1
) -> NDArray[np.floating]: ...
def conv3x3(
    xp: NDArray[np.floating],     # (N, Hp, Wp, C), zero-padded
    u: NDArray[np.floating],      # (F, 16, C), filter_transform's
    bias: NDArray[np.floating],   # (F,)
    out: NDArray[np.floating],    # (N, Hp - 2, Wp - 2, F), overwritten
    clamp_max: float | None,
    n_threads: int,
    flipped: bool = False,        # u (C, 16, F): the input gradient's convolution
) -> None: ...
def filter_grad3x3(
    xp: NDArray[np.floating],             # (N, Hp, Wp, C), zero-padded
    grad: NDArray[np.floating],           # (N, Hp - 2, Wp - 2, F)
    grad_filters: NDArray[np.floating],   # (F, 3, 3, C), overwritten
    n_threads: int,
) -> None: ...
