import numpy as np
from numpy.typing import NDArray

def matrices(tile: int) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]: ...
def filter_transform(
    filters: NDArray[np.floating],   # (F, 3, 3, C)
    dtype: object,
    tile: int = 2,                   # F(2x2, 3x3) or F(4x4, 3x3)
    flip: bool = False,
    n_threads: int = 1,
) -> NDArray[np.floating]: ...      # (F, (tile + 2) ** 2, C)
def conv3x3(
    xp: NDArray[np.floating],     # (N, Hp, Wp, C), zero-padded
    u: NDArray[np.floating],      # (F, (tile + 2) ** 2, C), filter_transform's
    bias: NDArray[np.floating],   # (F,)
    out: NDArray[np.floating],    # (N, Hp - 2, Wp - 2, F), overwritten
    clamp_max: float | None,
    n_threads: int,
    tile: int = 2,
    flipped: bool = False,        # u (C, (tile + 2) ** 2, F) of flipped filters
) -> None: ...
def filter_grad3x3(
    xp: NDArray[np.floating],             # (N, Hp, Wp, C), zero-padded
    grad: NDArray[np.floating],           # (N, Hp - 2, Wp - 2, F)
    grad_filters: NDArray[np.floating],   # (F, 3, 3, C), overwritten
    n_threads: int,
    tile: int = 2,
) -> None: ...
