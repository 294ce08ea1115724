"""ONNX and graph networks: to_onnx writes every layer of a graph network (onnxruntime
equals predict) and from_onnx reads it back; hand-written graphs of the patterns other
exporters write (torch's Shape/Gather/Unsqueeze/Concat flatten, old-opset Clip and
Dropout, Pad, Resize, Concat, a shared tensor); bad input is refused, naming it."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from pyx_cnn import NeuralNetwork, layers as L                      # noqa: E402
from pyx_cnn import onnx as px                                       # noqa: E402

mk = onnx.helper.make_node


def run_ort(model, x):
    data = model if isinstance(model, bytes) else model.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: x})
    return out


def images(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def randomise(net, seed=1):
    """Weights, biases and batch-norm statistics away from their initial values."""
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        for store in (layer.params, getattr(layer, "state", {})):
            for key, value in store.items():
                new = rng.standard_normal(value.shape) * 0.5
                value[...] = np.abs(new) + 0.5 if key == "var" else new


def layer_configs(net):
    """Each layer's class name and config, sorted (a graph's layer order is one of its
    topological orders; a Concatenate's axis counted from the front)."""
    return sorted((type(la).__name__, repr(la.batch_axis if isinstance(la, L.Concatenate)
                                          else la.get_config())) for la in net.layers)


def round_trip(net, x, tmp_path, atol=1e-5):
    """onnxruntime equals predict; from_onnx reads the model back to the same
    predictions and the same layers."""
    model = px.to_onnx(net, tmp_path / "net.onnx")
    expected = net.predict(x)
    np.testing.assert_allclose(run_ort(model, x), expected, rtol=0, atol=atol)
    back = NeuralNetwork.from_onnx(tmp_path / "net.onnx")
    np.testing.assert_allclose(back.predict(x), expected, rtol=0, atol=1e-6)
    assert layer_configs(back) == [c for c in layer_configs(net) if c[0] != "Dropout"]
    return model, back


# ------------------------------------------------------------ graph networks out
def test_residual_and_concatenate_graph(tmp_path):
    x = L.Input((8, 8, 3))
    h = L.Conv2D(4, 3, padding=1, activation="relu")(x)
    h = L.BatchNormalization()(h)
    s = L.Add()([h, L.Conv2D(4, 1)(x)])
    c = L.Concatenate()([s, h, L.ReLU()(s)])
    p = L.MaxPool2D(2, 2)(c)
    f = L.Flatten()(L.AvgPool2D(2, 2)(p))
    y = L.Dense(5, activation="softmax")(L.Dropout(0.3)(f))
    net = NeuralNetwork(inputs=x, outputs=y, seed=0, dtype="float32")
    randomise(net)
    model, back = round_trip(net, images((3, 8, 8, 3)), tmp_path)
    ops = [n.op_type for n in model.graph.node]
    # one transpose of the input (read by two convolutions), one before the flatten
    assert ops.count("Transpose") == 2 and ops.count("Concat") == 1 and "Add" in ops
    assert back.is_graph


def test_dense_graph_float64_and_concatenate_of_features(tmp_path):
    x = L.Input((6,))
    a = L.Dense(4, activation="tanh")(x)
    b = L.Dense(3)(x)
    y = L.Dense(2)(L.Concatenate()([a, L.Add()([b, L.Dense(3)(a)])]))
    net = NeuralNetwork(inputs=x, outputs=y, seed=0)
    round_trip(net, images((4, 6), np.float64), tmp_path, atol=1e-12)


def test_concatenate_along_height_and_width(tmp_path):
    x = L.Input((4, 5, 2))
    a = L.Conv2D(3, 1)(x)
    h = L.Concatenate(axis=1)([a, L.Conv2D(3, 1)(x)])             # (8, 5, 3)
    y = L.Concatenate(axis=-2)([h, L.ReLU()(h)])                  # (8, 10, 3)
    net = NeuralNetwork(inputs=x, outputs=y, seed=0, dtype="float32")
    round_trip(net, images((2, 4, 5, 2)), tmp_path)


def test_shape_layers_transposed_conv_and_bounded_relu_round_trip(tmp_path):
    x = L.Input((5, 6, 3))
    h = L.ZeroPadding2D(((1, 2), (0, 1)))(x)
    h = L.Conv2DTranspose(4, 3, stride=2, padding=1, output_padding=1, activation="relu6")(h)
    h = L.ReLU(max_value=2.5)(L.Conv2DTranspose(3, (2, 3), dilation=(1, 2))(h))
    a = L.UpSampling2D((2, 1))(h)
    b = L.Conv2D(2, (1, 2), stride=(1, 2), activation="relu6")(h)
    y = L.Concatenate()([a, L.ReLU(max_value=6)(L.UpSampling2D(2)(b))])
    net = NeuralNetwork(inputs=x, outputs=y, seed=0, dtype="float32")
    randomise(net)
    model, back = round_trip(net, images((2, 5, 6, 3)), tmp_path)
    ops = [n.op_type for n in model.graph.node]
    assert {"Clip", "Pad", "Resize", "ConvTranspose"} <= set(ops) and ops.count("Clip") == 4


def test_grouped_depthwise_and_padded_pool_layers_round_trip(tmp_path):
    x = L.Input((9, 10, 4))
    h = L.Conv2D(6, 3, padding=((1, 0), (2, 1)), groups=2)(x)
    h = L.DepthwiseConv2D(3, padding=1, depth_multiplier=2, activation="relu6")(h)
    h = L.MaxPool2D(3, 2, padding=1, ceil_mode=True)(h)
    y = L.AvgPool2D(3, 2, padding=1, ceil_mode=True, count_include_pad=False)(h)
    net = NeuralNetwork(inputs=x, outputs=y, seed=0, dtype="float32")
    randomise(net)
    model, back = round_trip(net, images((2, 9, 10, 4)), tmp_path)
    assert [node.attribute for node in model.graph.node if node.op_type == "Conv"]


@pytest.mark.parametrize("size, padding, ceil_mode", [
    (3, 0, True), (3, 1, False), (3, "same", False), (3, (1, 0), True),
    (2, 1, True),         # a last window starting in the padding: PyTorch drops it
])
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_padded_pools_round_trip(size, padding, ceil_mode, count_include_pad, tmp_path):
    x = L.Input((7, 8, 2))
    a = L.MaxPool2D(size, 2, padding=padding, ceil_mode=ceil_mode)(x)
    b = L.AvgPool2D(size, 2, padding=padding, ceil_mode=ceil_mode,
                    count_include_pad=count_include_pad)(x)
    net = NeuralNetwork(inputs=x, outputs=L.Add()([a, b]), seed=0, dtype="float32")
    model = px.to_onnx(net, tmp_path / "net.onnx")
    xs = images((3, 7, 8, 2))
    np.testing.assert_allclose(run_ort(model, xs), net.predict(xs), rtol=0, atol=1e-5)
    back = NeuralNetwork.from_onnx(model)
    np.testing.assert_allclose(back.predict(xs), net.predict(xs), rtol=0, atol=1e-6)


# ------------------------------------------------------- hand-written graphs in
def make_model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = onnx.helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])


def value_info(name, shape, elem=onnx.TensorProto.FLOAT):
    return onnx.helper.make_tensor_value_info(name, elem, shape)


def init(value, name):
    return onnx.numpy_helper.from_array(np.asarray(value), name)


def test_torch_style_flatten_pattern_and_shared_tensor():
    # y = Gemm(Reshape(relu(conv(x)), Concat(Unsqueeze(Gather(Shape(.), 0)), [-1])))
    #     + Gemm(GlobalAveragePool(relu(conv(x)))): the conv output is read twice
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    fc1 = rng.standard_normal((5, 3 * 4 * 4)).astype(np.float32)
    fc2 = rng.standard_normal((5, 3)).astype(np.float32)
    nodes = [
        mk("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        mk("Relu", ["c"], ["r"], name="relu"),
        mk("Shape", ["r"], ["s"], name="shape"),
        mk("Constant", [], ["zero"], name="zero", value=init(np.array(0), "v")),
        mk("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
        mk("Constant", [], ["axes"], name="axes", value_ints=[0]),
        mk("Unsqueeze", ["n", "axes"], ["n1"], name="unsqueeze"),
        mk("Constant", [], ["minus"], name="minus", value_ints=[-1]),
        mk("Concat", ["n1", "minus"], ["shape2"], name="concat", axis=0),
        mk("Reshape", ["r", "shape2"], ["f"], name="reshape"),
        mk("Gemm", ["f", "fc1"], ["g1"], name="fc1", transB=1),
        mk("GlobalAveragePool", ["r"], ["p"], name="gap"),
        mk("Flatten", ["p"], ["pf"], name="flatten"),
        mk("Gemm", ["pf", "fc2"], ["g2"], name="fc2", transB=1),
        mk("Add", ["g1", "g2"], ["y"], name="add"),
    ]
    model = make_model(nodes, [value_info("x", ["N", 2, 4, 4])], [value_info("y", ["N", 5])],
                       [init(w, "w"), init(fc1, "fc1"), init(fc2, "fc2")])
    net = px.from_onnx(model)
    names = [type(la).__name__ for la in net.layers]
    assert names.count("Dense") == 2 and "Add" in names
    assert net.layers[0].activation == "relu" or "ReLU" in names
    x = images((3, 2, 4, 4))
    np.testing.assert_allclose(net.predict(x.transpose(0, 2, 3, 1)), run_ort(model, x),
                               rtol=0, atol=1e-5)


@pytest.mark.parametrize("opset", [6, 9, 11, 13])
def test_clip_and_dropout_of_old_and_new_opsets(opset):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 6)).astype(np.float32) * 4
    inits = [init(w, "w")]
    if opset < 11:
        clip = mk("Clip", ["m"], ["c"], name="clip", min=0.0, max=6.0)
    else:
        clip = mk("Clip", ["m", "lo", "hi"], ["c"], name="clip")
        inits += [init(np.float32(0), "lo"), init(np.float32(6), "hi")]
    dropout = (mk("Dropout", ["c"], ["y"], name="drop", ratio=0.25) if opset < 12 else
               mk("Dropout", ["c", "ratio"], ["y"], name="drop"))
    if opset >= 12:
        inits.append(init(np.float32(0.25), "ratio"))
    if opset < 7:
        dropout = mk("Dropout", ["c"], ["y"], name="drop", ratio=0.25, is_test=1)
    nodes = [mk("MatMul", ["x", "w"], ["m"], name="mm"), clip, dropout]
    model = make_model(nodes, [value_info("x", ["N", 4])], [value_info("y", ["N", 6])], inits,
                       opset=opset)
    net = px.from_onnx(model)
    assert [type(la).__name__ for la in net.layers] == ["Dense", "Dropout"]
    assert net.layers[1].rate == 0.25
    x = images((5, 4))
    expected = np.clip(x @ w, 0, 6)
    np.testing.assert_allclose(net.predict(x), expected, rtol=1e-6, atol=1e-5)


def test_pad_and_resize_and_constant_of_shape():
    nodes = [   # pads = [0, 0, 1, 0, 0, 0, 2, 3], the zeros from ConstantOfShape
        mk("Constant", [], ["two"], name="two", value_ints=[2]),
        mk("ConstantOfShape", ["two"], ["zeros"], name="zeros",
           value=init(np.array([0], np.int64), "v")),
        mk("Constant", [], ["top_left"], name="top_left", value_ints=[1, 0]),
        mk("Constant", [], ["bottom_right"], name="bottom_right", value_ints=[2, 3]),
        mk("Concat", ["zeros", "top_left", "zeros", "bottom_right"], ["pads"], name="cat",
           axis=0),
        mk("Pad", ["x", "pads"], ["p"], name="pad", mode="constant"),
        mk("Constant", [], ["scales"], name="scales", value_floats=[1.0, 1.0, 2.0, 3.0]),
        mk("Resize", ["p", "", "scales"], ["y"], name="resize", mode="nearest",
           coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
    ]
    model = make_model(nodes, [value_info("x", ["N", 2, 3, 4])], [value_info("y", None)])
    net = px.from_onnx(model)
    x = images((2, 2, 3, 4))
    expected = run_ort(model, x)
    assert expected.shape == (2, 2, 12, 21)
    np.testing.assert_allclose(net.predict(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2),
                               expected, rtol=0, atol=0)


# ----------------------------------------------------------------- bad input
def relu_model():
    return make_model([mk("Relu", ["x"], ["y"], name="r")], [value_info("x", ["N", 4])],
                      [value_info("y", ["N", 4])])


def test_from_onnx_takes_a_path_bytes_or_a_model(tmp_path):
    model = relu_model()
    onnx.save(model, str(tmp_path / "m.onnx"))
    x = images((3, 4))
    for source in (tmp_path / "m.onnx", str(tmp_path / "m.onnx"), model.SerializeToString(),
                   model):
        np.testing.assert_array_equal(NeuralNetwork.from_onnx(source).predict(x),
                                      np.maximum(x, 0))


def test_unknown_operator_names_node_and_supported_ops():
    model = make_model([mk("Relu", ["x"], ["a"], name="r"), mk("Elu", ["a"], ["y"], name="e1")],
                       [value_info("x", ["N", 4])], [value_info("y", ["N", 4])])
    before = model.SerializeToString()
    with pytest.raises(ValueError, match=r"'Elu' \(node 'e1'\).*reads Add, AveragePool, "
                                         r"BatchNormalization.*Resize.*Upsample"):
        px.from_onnx(model)
    assert model.SerializeToString() == before
    assert {"Conv", "ConvTranspose", "Clip", "Resize", "Upsample", "Pad", "Concat",
            "ConstantOfShape"} <= set(px.IMPORTERS)


@pytest.mark.parametrize("source, error, match", [
    ("no/such/model.onnx", FileNotFoundError, r"model: no ONNX file at 'no/such/model.onnx'"),
    (b"certainly not a model", ValueError, r"model: .*not an ONNX model"),
    (b"", ValueError, r"model: an ONNX model without graph nodes"),
    (42, TypeError, r"model must be a path, bytes or an onnx.ModelProto, got int"),
    (np.zeros(3), TypeError, r"got ndarray"),
])
def test_bad_model_argument(source, error, match):
    with pytest.raises(error, match=match):
        NeuralNetwork.from_onnx(source)


def test_file_that_is_not_a_model(tmp_path):
    (tmp_path / "x.onnx").write_text("hello")
    with pytest.raises(ValueError, match="not an ONNX model"):
        px.from_onnx(tmp_path / "x.onnx")


@pytest.mark.parametrize("nodes, match", [
    ([mk("Pad", ["x", "p"], ["y"], name="pad", mode="reflect")], r"mode='reflect'"),
    ([mk("Resize", ["x", "", "s"], ["y"], name="rs", mode="linear")], r"mode='linear'"),
    ([mk("Softmax", ["x"], ["y"], name="sm", axis=2)], r"Softmax over axis 2"),
    ([mk("Concat", ["x", "x"], ["y"], name="cat", axis=0)], r"Concat along axis 0"),
    ([mk("Transpose", ["x"], ["y"], name="t", perm=[0, 1, 3, 2])], r"perm=\[0, 1, 3, 2\]"),
    ([mk("Clip", ["x", "lo"], ["y"], name="clip")], r"Clip\(-1.0, inf\)"),
    ([mk("Reshape", ["x", "shape"], ["y"], name="rs")], r"reshape to \[-1, 3, 2, 4\]"),
    ([mk("Dropout", ["x", "", "train"], ["y"], name="d")], r"training_mode=True"),
    ([mk("BatchNormalization", ["x", "s", "s", "s", "s"], ["y"], name="bn",
         training_mode=1)], r"training_mode=1"),
])
def test_refused_settings_name_the_node(nodes, match):
    inits = [init(np.zeros(8, np.int64), "p"), init(np.ones(4, np.float32), "s"),
             init(np.float32(-1), "lo"), init(np.array([-1, 3, 2, 4], np.int64), "shape"),
             init(np.array(True), "train")]
    model = make_model(nodes, [value_info("x", ["N", 3, 4, 2])], [value_info("y", None)],
                       inits)
    with pytest.raises(ValueError, match=f"node '{nodes[0].name}'.*{match}"):
        px.from_onnx(model)


def test_graphs_of_several_inputs_or_of_int_data_are_refused():
    two = make_model([mk("Add", ["x", "z"], ["y"], name="add")],
                     [value_info("x", ["N", 4]), value_info("z", ["N", 4])],
                     [value_info("y", ["N", 4])])
    with pytest.raises(ValueError, match=r"one data input.*\['x', 'z'\]"):
        px.from_onnx(two)
    ints = make_model([mk("Relu", ["x"], ["y"], name="r")],
                      [value_info("x", ["N", 4], onnx.TensorProto.INT32)],
                      [value_info("y", ["N", 4], onnx.TensorProto.INT32)])
    with pytest.raises(ValueError, match="element type INT32"):
        px.from_onnx(ints)


@pytest.mark.parametrize("attrs", [
    {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
    {"auto_pad": "SAME_LOWER", "strides": [2, 1]},
    {"auto_pad": "VALID", "dilations": [2, 1]},
    {"pads": [2, 0, 1, 1], "strides": [1, 2]},
    {"pads": [1, 1, 1, 1], "group": 2, "dilations": [1, 2]},
    {"pads": [0, 1, 0, 1], "group": 4},
])
def test_conv_settings_against_onnxruntime(attrs):
    group = attrs.get("group", 1)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 4 // group, 3, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    node = mk("Conv", ["x", "w", "b"], ["y"], name="conv", kernel_shape=[3, 3], **attrs)
    model = make_model([node], [value_info("x", ["N", 4, 9, 8])], [value_info("y", None)],
                       [init(w, "w"), init(b, "b")])
    net = px.from_onnx(model)
    x = images((2, 4, 9, 8))
    got = net.predict(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, run_ort(model, x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("attrs", [
    {"strides": [2, 2]},
    {"strides": [2, 3], "pads": [1, 1, 1, 1], "output_padding": [1, 2]},
    {"strides": [2, 2], "pads": [1, 0, 0, 0], "dilations": [2, 1]},
    {"strides": [3, 2], "output_shape": [10, 8]},
])
def test_conv_transpose_against_onnxruntime(attrs):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 5, 3, 3)).astype(np.float32)
    node = mk("ConvTranspose", ["x", "w"], ["y"], name="deconv", **attrs)
    model = make_model([node], [value_info("x", ["N", 3, 4, 3])], [value_info("y", None)],
                       [init(w, "w")])
    net = px.from_onnx(model)
    x = images((2, 3, 4, 3))
    got = net.predict(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, run_ort(model, x), rtol=0, atol=1e-5)


def test_arithmetic_on_the_batch_size_is_refused():
    # Reshape(x, [N * 2, -1]) depends on the batch: refused, never read as a flatten
    nodes = [mk("Shape", ["x"], ["s"], name="shape"),
             mk("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
             mk("Mul", ["n", "two"], ["n2"], name="double"),
             mk("Unsqueeze", ["n2", "axes"], ["n3"], name="unsqueeze"),
             mk("Concat", ["n3", "minus"], ["shape"], name="concat", axis=0),
             mk("Reshape", ["x", "shape"], ["y"], name="reshape")]
    inits = [init(np.array(0), "zero"), init(np.array(2), "two"), init(np.array([0]), "axes"),
             init(np.array([-1]), "minus")]
    model = make_model(nodes, [value_info("x", ["N", 2, 3, 4])], [value_info("y", None)],
                       inits)
    with pytest.raises(ValueError, match=r"'Mul' \(node 'double'\).*arithmetic on the batch"):
        px.from_onnx(model)


def test_constant_subgraph_of_any_operator_is_folded():
    # the Gemm's weights come from Where(Greater(a, 0), a, Neg(a)) = |a| of constants
    a = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    nodes = [mk("Greater", ["a", "zero"], ["positive"], name="gt"),
             mk("Neg", ["a"], ["minus_a"], name="neg"),
             mk("Where", ["positive", "a", "minus_a"], ["w"], name="where"),
             mk("Gemm", ["x", "w"], ["y"], name="gemm")]
    model = make_model(nodes, [value_info("x", ["N", 4])], [value_info("y", ["N", 3])],
                       [init(a, "a"), init(np.float32(0), "zero")])
    net = px.from_onnx(model)
    x = images((5, 4))
    np.testing.assert_allclose(net.predict(x), x @ np.abs(a), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("build, shape", [
    (lambda models: models.resnet(18, input_shape=(32, 32, 3), width=4), (32, 32, 3)),
    (lambda models: models.resnet(18, input_shape=(64, 64, 3), width=4), (64, 64, 3)),
    (lambda models: models.mobilenet_v2(input_shape=(32, 32, 3), width_multiplier=0.25),
     (32, 32, 3)),
    (lambda models: models.unet(input_shape=(16, 16, 1), depth=2, filters=4), (16, 16, 1)),
], ids=["resnet18_cifar_stem", "resnet18_imagenet_stem", "mobilenet_v2", "unet"])
def test_pyx_cnn_models_round_trip(build, shape, tmp_path):
    from pyx_cnn import models

    net = build(models)
    randomise(net)
    x = images((2,) + shape)
    model = px.to_onnx(net, tmp_path / "net.onnx")
    np.testing.assert_allclose(run_ort(model, x), net.predict(x), rtol=0, atol=2e-5)
    back = NeuralNetwork.from_onnx(model)
    np.testing.assert_allclose(back.predict(x), net.predict(x), rtol=0, atol=1e-5)


def test_constant_added_after_a_convolution_is_its_bias():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    b1, b2 = (rng.standard_normal((1, 3, 1, 1)).astype(np.float32) for _ in range(2))
    nodes = [mk("Conv", ["x", "w"], ["c"], name="conv"), mk("Add", ["b1", "c"], ["a"], name="a1"),
             mk("Add", ["a", "b2"], ["y"], name="a2")]
    model = make_model(nodes, [value_info("x", ["N", 2, 5, 5])], [value_info("y", None)],
                       [init(w, "w"), init(b1, "b1"), init(b2, "b2")])
    net = px.from_onnx(model)
    assert [type(la).__name__ for la in net.layers] == ["Conv2D"] and net.layers[0].use_bias
    x = images((2, 2, 5, 5))
    np.testing.assert_allclose(net.predict(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2),
                               run_ort(model, x), rtol=0, atol=1e-5)
    # a constant of another shape is refused
    nodes[1] = mk("Add", ["b1", "c"], ["a"], name="a1")
    model.graph.initializer[1].CopyFrom(init(rng.standard_normal((1, 3, 3, 3)).astype(
        np.float32), "b1"))
    with pytest.raises(ValueError, match=r"'Add' \(node 'a1'\).*constant of shape"):
        px.from_onnx(model)


@pytest.mark.parametrize("op, attrs", [
    ("MaxPool", {"pads": [1, 0, 0, 1], "strides": [2, 2]}),
    ("MaxPool", {"pads": [0, 1, 1, 0], "strides": [2, 2], "ceil_mode": 1}),
    ("MaxPool", {"pads": [1, 1, 0, 0], "strides": [3, 3], "ceil_mode": 1}),
    ("AveragePool", {"pads": [1, 0, 0, 1], "strides": [2, 2], "count_include_pad": 0}),
    ("AveragePool", {"pads": [0, 1, 1, 1], "strides": [2, 2], "ceil_mode": 1}),
])
def test_pools_with_pads_per_side_against_onnxruntime(op, attrs):
    node = mk(op, ["x"], ["y"], name="pool", kernel_shape=[3, 3], **attrs)
    model = make_model([node], [value_info("x", ["N", 3, 9, 8])], [value_info("y", None)])
    net = px.from_onnx(model)
    x = images((2, 3, 9, 8))
    got = net.predict(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, run_ort(model, x), rtol=0, atol=1e-5)
