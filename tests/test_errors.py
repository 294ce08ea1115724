"""Every error case of the spec: a clear exception naming the argument, never a crash."""
import numpy as np
import pytest

import pyx_cnn

IMG = np.ones((8, 8))
BANK = np.ones((2, 3, 3))


@pytest.mark.parametrize(
    "args,kwargs,exc,words",
    [
        ((np.ones((8, 8, 3)), np.ones((2, 3, 3, 2))), {}, ValueError, ["conv_filter", "3", "2"]),
        ((np.ones((8, 8, 3)), np.ones((2, 3, 3))), {}, ValueError, ["channel"]),
        ((np.ones((4, 4)), np.ones((1, 5, 5))), {}, ValueError, ["larger", "(5, 5)"]),
        ((IMG, BANK), {"stride": 0}, ValueError, ["stride"]),
        ((IMG, BANK), {"padding": -1}, ValueError, ["padding"]),
        ((IMG, BANK), {"stride": 1.5}, TypeError, ["stride"]),
        ((IMG, BANK), {"padding": True}, TypeError, ["padding"]),
        ((np.ones((0, 8)), BANK), {}, ValueError, ["img", "empty"]),
        ((IMG, np.ones((0, 3, 3))), {}, ValueError, ["conv_filter", "empty"]),
        ((np.ones(8), BANK), {}, ValueError, ["img", "2-D"]),
        ((np.ones((1, 1, 8, 8, 1)), BANK), {}, ValueError, ["img"]),
        ((IMG, np.ones((3, 3))), {}, ValueError, ["conv_filter", "(3, 3)"]),
        ((IMG, BANK), {"bias": np.ones(3)}, ValueError, ["bias", "F=2"]),
        ((IMG, BANK), {"bias": np.ones((2, 1))}, ValueError, ["bias"]),
        ((IMG.astype(complex), BANK), {}, TypeError, ["img", "complex"]),
        ((IMG, BANK.astype(object)), {}, TypeError, ["conv_filter", "object"]),
        ((np.array([["a"]]), BANK), {}, TypeError, ["img"]),
        (("abc", BANK), {}, TypeError, ["img"]),
        ((None, BANK), {}, TypeError, ["img", "None"]),
        ((IMG, None), {}, TypeError, ["conv_filter", "None"]),
        (([[1, 2], [3]], BANK), {}, ValueError, ["img"]),
    ],
)
def test_conv_errors(args, kwargs, exc, words):
    with pytest.raises(exc) as info:
        pyx_cnn.conv(*args, **kwargs)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    "x,size,stride,exc,word",
    [
        (np.ones((4, 4)), 0, 2, ValueError, "size"),
        (np.ones((4, 4)), 2, 0, ValueError, "stride"),
        (np.ones((4, 4)), 5, 1, ValueError, "size"),
        (np.ones((3, 8, 2)), 4, 1, ValueError, "size"),
        (np.ones((0, 4)), 1, 1, ValueError, "empty"),
        (np.ones(4), 2, 2, ValueError, "feature_map"),
        (np.ones((1, 1, 4, 4, 1)), 2, 2, ValueError, "feature_map"),
        (np.ones((4, 4), complex), 2, 2, TypeError, "complex"),
        (None, 2, 2, TypeError, "feature_map"),
        (np.ones((4, 4)), 2.0, 2, TypeError, "size"),
    ],
)
def test_pooling_errors(x, size, stride, exc, word):
    with pytest.raises(exc, match=word):
        pyx_cnn.pooling(x, size, stride)


@pytest.mark.parametrize("fn", [pyx_cnn.relu, pyx_cnn.sigmoid, pyx_cnn.softmax])
def test_elementwise_errors(fn):
    with pytest.raises(TypeError):
        fn(None)
    with pytest.raises(TypeError, match="complex"):
        fn(np.ones(3, complex))
    with pytest.raises(TypeError):
        fn(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="empty"):
        fn(np.ones((0, 3)))


def test_conv_underscore_errors():
    with pytest.raises(ValueError, match="img"):
        pyx_cnn.conv_(np.ones((4, 4, 1)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="conv_filter"):
        pyx_cnn.conv_(np.ones((4, 4)), np.ones((1, 3, 3)))
    with pytest.raises(ValueError, match="larger"):
        pyx_cnn.conv_(np.ones((4, 4)), np.ones((5, 3)))


def test_result_too_large_raises_memory_error_before_work():
    # a broadcast view: huge logical shape, almost no memory
    huge = np.broadcast_to(np.float32(1), (4096, 4096, 4096, 1))
    with pytest.raises(MemoryError, match="GiB"):
        pyx_cnn.conv(huge, np.ones((64, 1, 1, 1), np.float32))
    with pytest.raises(MemoryError):
        pyx_cnn.relu(huge)
    with pytest.raises(MemoryError):
        pyx_cnn.pooling(huge, 1, 1)


def test_softmax_axis_errors():
    with pytest.raises(ValueError, match="axis"):
        pyx_cnn.softmax(np.ones((2, 3)), axis=2)
    with pytest.raises(ValueError, match="axis"):
        pyx_cnn.softmax(np.ones((2, 3)), axis=-3)
