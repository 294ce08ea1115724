"""ONNX's own backend test cases (onnx.backend.test.case.node) of the operators
pyx_cnn.onnx reads, run through from_onnx.

Each case is one node with its inputs and expected outputs. The cases whose data
input is an NCHW image batch (4-D) or a 2-D batch of a float type are run: the
node's other inputs become initializers (a pyx_cnn network has one data input),
and the network's prediction must equal the expected output, or, for the cases in
:data:`REFUSED`, from_onnx must refuse the model with a ValueError saying why.
The other cases (1-D, 3-D or 5-D data, sequences) are left out: :data:`LEFT_OUT`
lists them with the reason, and a test checks that list."""
import re

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx_node_cases import as_one_input_model, collect     # noqa: E402
from pyx_cnn import onnx as px                                # noqa: E402

CASES = collect(onnx)

#: case name -> what the ValueError says (a regular expression): what pyx_cnn cannot
#: compute exactly, so refuses
REFUSED = {
    "test_averagepool_2d_dilations": r"dilations=\[2, 2\]",
    "test_maxpool_2d_dilations": r"dilations=\[2, 2\]",
    "test_averagepool_2d_pads": r"padding must be at most half the window size",
    "test_maxpool_2d_pads": r"padding must be at most half the window size",
    "test_maxpool_2d_uint8": r"element type UINT8",
    "test_edge_pad": r"element type INT32",
    "test_reflect_pad": r"element type INT32",
    "test_wrap_pad": r"element type INT32",
    "test_batchnorm_example_training_mode": r"one data input and one output",
    "test_batchnorm_epsilon_training_mode": r"one data input and one output",
    "test_maxpool_with_argmax_2d_precomputed_pads": r"one data input and one output",
    "test_maxpool_with_argmax_2d_precomputed_strides": r"one data input and one output",
    "test_constant_pad": r"constant value of \[1.2\]",
    "test_constant_pad_axes": r"constant value of \[1.2\]",
    "test_constant_pad_negative_axes": r"constant value of \[1.2\]",
    "test_convtranspose_autopad_same": r"cropping more at the end",
    "test_convtranspose_group_2": r"group=2",
    "test_convtranspose_group_2_image_3": r"group=2",
    "test_gemm_all_attributes": r"transA=1",
    "test_gemm_transposeA": r"transA=1",
    "test_gemm_default_matrix_bias": r"bias C of shape \(3, 4\)",
    "test_identity": r"no layer",
    "test_resize_downsample_scales_nearest": r"integer factors",
    "test_resize_downsample_sizes_nearest": r"integer factors",
    "test_resize_upsample_sizes_nearest": r"integer factors",
    "test_resize_upsample_sizes_nearest_axes_2_3": r"integer factors",
    "test_resize_upsample_sizes_nearest_axes_3_2": r"integer factors",
    "test_resize_upsample_sizes_nearest_ceil_half_pixel": r"does not read row",
    "test_resize_upsample_sizes_nearest_floor_align_corners": r"does not read row",
    "test_resize_upsample_sizes_nearest_round_prefer_ceil_asymmetric": r"does not read row",
}
for _name in CASES:
    if re.match(r"test_concat_2d_", _name):         # two data inputs
        REFUSED[_name] = r"must be data, got a constant"
    elif re.match(r"test_flatten_(axis[023]|negative_axis[124])$", _name):
        REFUSED[_name] = r"axis=-?\d \(pyx_cnn flattens from axis 1\)"
    elif re.match(r"test_flatten_(axis1|default_axis|negative_axis3)$", _name):
        REFUSED[_name] = r"graph output is a flatten of NCHW data"
    elif re.match(r"test_matmul_(4d|bcast)", _name):
        REFUSED[_name] = r"matrix product of NCHW data"
    elif re.match(r"test_resize_.*(linear|cubic|crop_and_resize)", _name):
        REFUSED[_name] = r"mode='(linear|cubic)'"
    elif re.match(r"test_resize_.*not_(larger|smaller)$", _name):
        REFUSED[_name] = r"keep_aspect_ratio_policy"


def _left_out(case):
    value = case.data_sets[0][0][0]
    if not isinstance(value, np.ndarray):
        return "its input is not a tensor"
    if value.ndim not in (2, 4):
        return f"its data is {value.ndim}-D (pyx_cnn reads image batches and 2-D batches)"
    return None


LEFT_OUT = {name: why for name, case in CASES.items() if (why := _left_out(case))}
RUN = sorted(name for name in CASES if name not in LEFT_OUT)


def test_cases_collected_and_left_out():
    assert len(RUN) >= 100, "onnx's node test cases were not collected"
    # what is left out is left out for its data's rank only
    for name, why in LEFT_OUT.items():
        assert why.startswith("its data is") or "not a tensor" in why, (name, why)
    assert not set(REFUSED) & set(LEFT_OUT)
    assert set(REFUSED) <= set(RUN) | {n for n in REFUSED if n not in CASES}


#: case name -> (rtol, atol) where the expected output is written to fewer digits
TOLERANCE = {"test_averagepool_2d_ceil_last_window_starts_on_pad": (1e-3, 1e-4)}


@pytest.mark.parametrize("name", RUN)
def test_node_case(name):
    model, x, outputs = as_one_input_model(onnx, CASES[name])
    original = model.SerializeToString()
    if name in REFUSED:
        with pytest.raises(ValueError, match=REFUSED[name]):
            px.from_onnx(model)
        assert model.SerializeToString() == original
        return
    net = px.from_onnx(model)
    image = x.ndim == 4
    got = net.predict(np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if image else x)
    expected = np.asarray(outputs[0])
    if got.ndim == 4:
        got = got.transpose(0, 3, 1, 2)
    elif expected.ndim == 4:                 # a global pool: pyx_cnn gives (N, C)
        expected = expected.reshape(got.shape)
    assert got.dtype == x.dtype
    rtol, atol = TOLERANCE.get(name, (1e-5, 1e-5))
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)
