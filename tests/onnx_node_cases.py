"""ONNX's backend test cases of one node (``onnx.backend.test.case.node``), collected
without the data files recent onnx wheels no longer ship: importing a case module runs
its ``export`` functions, whose ``expect`` calls record ``TestCase(name, model,
data_sets=[(inputs, outputs)])`` in the package's list of node cases."""
import importlib

import numpy as np

#: the case modules of the operators pyx_cnn.onnx reads
MODULES = ["conv", "convtranspose", "maxpool", "averagepool", "globalaveragepool",
           "globalmaxpool", "add", "concat", "relu", "clip", "leakyrelu", "sigmoid", "tanh",
           "softmax", "batch_normalization", "gemm", "matmul", "flatten", "reshape", "resize",
           "upsample", "pad", "dropout", "identity"]


def collect(onnx):
    """``{name: TestCase}`` of the cases of :data:`MODULES` whose graph is one node."""
    from onnx.backend.test.case import node

    for module in MODULES:
        importlib.import_module(f"onnx.backend.test.case.node.{module}")
    cases = getattr(node, "_NodeTestCases", None)
    if cases is None:                     # another onnx layout: the public, slower way
        cases = node.collect_testcases()
    ops = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool",
           "GlobalMaxPool", "Add", "Concat", "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh",
           "Softmax", "BatchNormalization", "Gemm", "MatMul", "Flatten", "Reshape", "Resize",
           "Upsample", "Pad", "Dropout", "Identity"}
    return {case.name: case for case in cases
            if len(case.model.graph.node) == 1 and case.model.graph.node[0].op_type in ops}


def as_one_input_model(onnx, case):
    """The case's model with every input but the first made an initializer (pyx_cnn
    networks have one data input), the first input's data and the expected outputs."""
    inputs, outputs = case.data_sets[0]
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    graph = model.graph
    for info, value in list(zip(graph.input, inputs))[1:]:
        graph.initializer.append(onnx.numpy_helper.from_array(np.asarray(value), info.name))
    keep = graph.input[0]
    del graph.input[1:]
    graph.input[0].CopyFrom(keep)
    return model, inputs[0], outputs
