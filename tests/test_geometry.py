"""pyx_cnn._geometry against brute force: output sizes by counting windows, "same" padding
by searching the smallest padding that gives ceil(H / stride) outputs, and the argument
forms and their errors."""
import math

import pytest

from pyx_cnn import _geometry as g
from reference import same_pads


def count_windows(size, kernel, stride, before, after, dilation):
    """Positions of a window of `kernel` taps `dilation` apart, every `stride` rows,
    that fit in the input padded by `before` / `after` zeros."""
    padded = size + before + after
    return sum(1 for start in range(0, padded, stride)
               if start + (kernel - 1) * dilation < padded)


SIZES = range(1, 13)


@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("stride", [1, 2, 3, 4])
@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_output_size_counts_the_windows(kernel, stride, dilation):
    for size in SIZES:
        for pads in [(0, 0), (1, 1), (2, 0), (0, 3), (4, 1)]:
            expected = count_windows(size, kernel, stride, *pads, dilation)
            out = g.output_size(size, kernel, stride, pads, dilation)
            assert max(out, 0) == expected, (size, kernel, stride, pads, dilation)


@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("stride", [1, 2, 3, 4])
@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_same_padding_is_the_smallest_giving_ceil_outputs(kernel, stride, dilation):
    for size in SIZES:
        before, after = g.same_padding(size, kernel, stride, dilation)
        wanted = math.ceil(size / stride)
        assert count_windows(size, kernel, stride, before, after, dilation) == wanted
        # the smallest total that gives them (none at all when the windows fit already)
        total = before + after
        assert total == 0 or count_windows(size, kernel, stride, 0, total - 1, dilation) < wanted
        assert after - before in (0, 1)          # the extra zero at the bottom / right
        assert ((before, after),) == same_pads((size,), (kernel,), (stride,), (dilation,))


def test_resolve_padding_every_form():
    in_hw, k = (8, 7), (3, 2)
    assert g.resolve_padding(2, in_hw, k) == ((2, 2), (2, 2))
    assert g.resolve_padding((1, 0), in_hw, k) == ((1, 1), (0, 0))
    assert g.resolve_padding([0, 3], in_hw, k) == ((0, 0), (3, 3))
    assert g.resolve_padding("valid", in_hw, k) == ((0, 0), (0, 0))
    assert g.resolve_padding(" SAME ", in_hw, k, (2, 2), (1, 2)) == (
        g.same_padding(8, 3, 2, 1), g.same_padding(7, 2, 2, 2))
    assert g.resolve_padding(((1, 2), (0, 3)), in_hw, k) == ((1, 2), (0, 3))
    assert g.resolve_padding([[1, 2], [0, 3]], in_hw, k) == ((1, 2), (0, 3))


@pytest.mark.parametrize("padding,error", [
    (-1, ValueError), ("full", ValueError), (1.5, TypeError), (True, TypeError),
    ((1, 2, 3), TypeError), (((1, 2), 3), TypeError), (((1, -2), (0, 0)), ValueError),
    ((("a", 1), (0, 0)), TypeError), (None, TypeError),
])
def test_bad_padding_names_the_argument(padding, error):
    with pytest.raises(error, match="padding"):
        g.resolve_padding(padding, (5, 5), (3, 3))


def test_check_padding_keeps_the_stored_forms():
    assert g.check_padding("Same") == "same" and g.check_padding("valid ") == "valid"
    assert g.check_padding(3) == (3, 3) and g.check_padding((1, 2)) == (1, 2)
    with pytest.raises(TypeError, match="padding.*'valid' or 'same', got float 1.5"):
        g.check_padding(1.5)
    with pytest.raises(TypeError, match="padding"):
        g.check_padding(((1, 1), (0, 0)))     # a layer's argument: not (yet) asymmetric


def test_pair():
    assert g.pair(3, "stride", 1) == (3, 3)
    assert g.pair((2, 1), "stride", 1) == (2, 1) and g.pair([4, 5], "kernel_size", 1) == (4, 5)
    with pytest.raises(TypeError, match=r"stride must be an int or a pair.*\(1, 2, 3\)"):
        g.pair((1, 2, 3), "stride", 1)
    with pytest.raises(ValueError, match="dilation must be >= 1, got 0"):
        g.pair((1, 0), "dilation", 1)
    with pytest.raises(TypeError, match="stride must be an int, got float 2.0"):
        g.pair(2.0, "stride", 1)
    with pytest.raises(TypeError, match="stride"):
        g.pair(True, "stride", 1)


def test_window_bounds_and_effective_kernel():
    assert g.effective_kernel(3, 2) == 5 and g.effective_kernel(1, 7) == 1
    for index in range(5):
        for kernel, stride, dilation, before in [(3, 1, 1, 0), (3, 2, 2, 1), (2, 3, 1, 2)]:
            start, stop = g.window_bounds(index, kernel, stride, dilation, before)
            taps = [index * stride - before + i * dilation for i in range(kernel)]
            assert (start, stop) == (taps[0], taps[-1] + 1)


def test_docstring_examples():
    import doctest

    assert doctest.testmod(g).failed == 0
    assert doctest.DocTestFinder().find(g)
