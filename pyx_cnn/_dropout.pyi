import numpy as np
from numpy.typing import NDArray

def _apply_mask(
    x: NDArray[np.floating],          # flat, C-contiguous
    mask: NDArray[np.uint8],          # flat, same size: nonzero keeps
    scale: float,                     # 1 / (1 - rate)
    out: NDArray[np.floating],        # flat, written (may be x)
    n_threads: int,
) -> None: ...
