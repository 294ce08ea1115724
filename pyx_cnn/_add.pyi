import numpy as np
from numpy.typing import NDArray

# All arrays flat, C-contiguous, of one float dtype; `out` may alias an input.
def _sum(a: NDArray[np.floating], b: NDArray[np.floating], out: NDArray[np.floating],
         n_threads: int) -> None: ...
def _copy(a: NDArray[np.floating], out: NDArray[np.floating], n_threads: int) -> None: ...
