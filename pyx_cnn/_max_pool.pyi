import numpy as np
from numpy.typing import NDArray

def _maxpool2d_forward(
    x: NDArray[np.floating],      # (N, H, W, C), C-contiguous
    out: NDArray[np.floating],    # (N, Ho, Wo, C), written
    size: int,
    stride: int,
    n_threads: int,
    pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),   # (top, bottom), (left, right)
) -> None: ...
def _maxpool2d_forward_argmax(
    x: NDArray[np.floating],          # (N, H, W, C), C-contiguous
    out: NDArray[np.floating],        # (N, Ho, Wo, C), written
    argmax: NDArray[np.int32],        # (N, Ho, Wo, C), written: offset (iy*W+ix)*C+c in x[n]
    size: int,
    stride: int,
    fuse_relu: bool,
    n_threads: int,
    pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),
) -> None: ...
def _maxpool2d_backward(
    grad_out: NDArray[np.floating],   # (N, Ho, Wo, C)
    argmax: NDArray[np.int32],        # (N, Ho, Wo, C), from the forward pass
    out: NDArray[np.floating],        # (N, Ho, Wo, C), forward output (read with fuse_relu)
    grad_x: NDArray[np.floating],     # (N, H, W, C), overwritten
    fuse_relu: bool,
    n_threads: int,
) -> None: ...
