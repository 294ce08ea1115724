"""Backward kernels of max pooling and of the elementwise activations.

Private: :mod:`pyx_cnn.layers` validates arguments before calling these.

Max pooling for training records, in the forward pass, where each window's
maximum came from: ``argmax[n, y, x, c]`` is the offset ``(iy*W + ix)*C + c``
of the winning element inside sample ``n`` of the input. Ties go to the first
maximum in row-major window order; a NaN in a window is the maximum (as in the
inference kernel, where NaN propagates) and the first NaN wins. The backward
pass adds each output gradient to its recorded position. Windows may overlap
(``stride < size``), so two outputs can route to one input: the work is split
over the batch, each sample's gradient being written by one thread only.

With ``fuse_relu`` the forward pass returns ``max(0, max(window))``, which equals
``max(relu(window))``; the backward pass then routes a gradient only where that
output is positive, which is the gradient of ReLU followed by max pooling.
"""
from cython.parallel cimport prange
from libc.stdint cimport int64_t
from libc.string cimport memset

ctypedef fused floating:
    float
    double

cdef Py_ssize_t _MIN_PARALLEL_WORK = 1 << 16


cdef inline void _pool_argmax_sample(
    const floating* x,          # x[n], (H, W, C)
    floating* out,              # out[n], (Ho, Wo, C)
    int64_t* arg,               # argmax[n], (Ho, Wo, C)
    Py_ssize_t width,
    Py_ssize_t channels,
    Py_ssize_t h_out,
    Py_ssize_t w_out,
    Py_ssize_t size,
    Py_ssize_t stride,
    bint fuse_relu,
) noexcept nogil:
    cdef Py_ssize_t oy, ox, i, j, c, base, pos, o
    cdef floating v, b
    cdef bint take
    cdef floating* ob
    cdef int64_t* ab
    cdef const floating* xp
    for oy in range(h_out):
        for ox in range(w_out):
            base = (oy * stride * width + ox * stride) * channels
            o = (oy * w_out + ox) * channels
            ob = out + o
            ab = arg + o
            for c in range(channels):
                ob[c] = x[base + c]
                ab[c] = base + c
            # window elements in row-major order, channels innermost: the
            # channels are independent, and the selects are branch-free (the
            # comparisons are unpredictable on real data)
            for i in range(size):
                for j in range(size):
                    if i == 0 and j == 0:
                        continue
                    pos = base + (i * width + j) * channels
                    xp = x + pos
                    for c in range(channels):
                        v = xp[c]
                        b = ob[c]
                        # strict '>' keeps the first maximum; the first NaN wins
                        # and then stays (nothing compares greater than NaN)
                        take = (v > b) | ((v != v) & (b == b))
                        ob[c] = v if take else b
                        ab[c] = (pos + c) if take else ab[c]
            if fuse_relu:
                for c in range(channels):
                    b = ob[c]
                    ob[c] = 0 if ((b <= 0) & (b == b)) else b


def _maxpool2d_forward_argmax(
    const floating[:, :, :, ::1] x,
    floating[:, :, :, ::1] out,
    int64_t[:, :, :, ::1] argmax,
    Py_ssize_t size,
    Py_ssize_t stride,
    bint fuse_relu,
    int n_threads,
):
    """Max pooling that also records each window's argmax (offset inside the sample)."""
    cdef Py_ssize_t n_batch = x.shape[0]
    cdef Py_ssize_t width = x.shape[2]
    cdef Py_ssize_t channels = x.shape[3]
    cdef Py_ssize_t x_sample = x.shape[1] * width * channels
    cdef Py_ssize_t h_out = out.shape[1]
    cdef Py_ssize_t w_out = out.shape[2]
    cdef Py_ssize_t o_sample = h_out * w_out * channels
    cdef Py_ssize_t n
    cdef int nt = n_threads
    if n_batch * o_sample * size * size < _MIN_PARALLEL_WORK or n_batch < 2:
        nt = 1
    if n_batch == 0 or o_sample == 0:
        return
    with nogil:
        for n in prange(n_batch, num_threads=nt, schedule="static"):
            _pool_argmax_sample(
                &x[0, 0, 0, 0] + n * x_sample, &out[0, 0, 0, 0] + n * o_sample,
                &argmax[0, 0, 0, 0] + n * o_sample, width, channels, h_out, w_out,
                size, stride, fuse_relu,
            )


def _maxpool2d_backward(
    const floating[:, :, :, ::1] grad_out,
    const int64_t[:, :, :, ::1] argmax,
    const floating[:, :, :, ::1] out,
    floating[:, :, :, ::1] grad_x,
    bint fuse_relu,
    int n_threads,
):
    """grad_x (overwritten): each grad_out added at its window's argmax.

    With `fuse_relu`, only where the forward output `out` is positive (`out` is
    not read otherwise).
    """
    cdef Py_ssize_t n_batch = grad_x.shape[0]
    cdef Py_ssize_t x_sample = grad_x.shape[1] * grad_x.shape[2] * grad_x.shape[3]
    cdef Py_ssize_t o_sample = grad_out.shape[1] * grad_out.shape[2] * grad_out.shape[3]
    cdef Py_ssize_t n, q
    cdef floating* gx
    cdef const floating* g
    cdef const floating* o
    cdef const int64_t* a
    cdef int nt = n_threads
    if n_batch * (x_sample + o_sample) < _MIN_PARALLEL_WORK or n_batch < 2:
        nt = 1
    if n_batch == 0 or x_sample == 0:
        return
    with nogil:
        for n in prange(n_batch, num_threads=nt, schedule="static"):
            gx = &grad_x[0, 0, 0, 0] + n * x_sample
            g = &grad_out[0, 0, 0, 0] + n * o_sample
            a = &argmax[0, 0, 0, 0] + n * o_sample
            memset(gx, 0, x_sample * sizeof(floating))
            if fuse_relu:
                o = &out[0, 0, 0, 0] + n * o_sample
                for q in range(o_sample):
                    if o[q] > 0:
                        gx[a[q]] += g[q]
            else:
                for q in range(o_sample):
                    gx[a[q]] += g[q]


def _relu_backward(
    const floating[::1] y, const floating[::1] grad_out, floating[::1] grad_in, int n_threads
):
    """grad_in = grad_out where the ReLU output y is positive, else 0."""
    cdef Py_ssize_t size = y.shape[0]
    cdef Py_ssize_t i
    cdef int nt = n_threads if size >= _MIN_PARALLEL_WORK * 4 else 1
    with nogil:
        for i in prange(size, num_threads=nt, schedule="static"):
            grad_in[i] = grad_out[i] if y[i] > 0 else 0


def _sigmoid_backward(
    const floating[::1] y, const floating[::1] grad_out, floating[::1] grad_in, int n_threads
):
    """grad_in = grad_out * y * (1 - y), y being the sigmoid's output."""
    cdef Py_ssize_t size = y.shape[0]
    cdef Py_ssize_t i
    cdef int nt = n_threads if size >= _MIN_PARALLEL_WORK * 4 else 1
    with nogil:
        for i in prange(size, num_threads=nt, schedule="static"):
            grad_in[i] = grad_out[i] * y[i] * (1 - y[i])
