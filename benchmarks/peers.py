"""The optional peers the benchmarks time pyx_cnn against, imported when present.

onnxruntime runs the very model :meth:`pyx_cnn.NeuralNetwork.to_onnx` writes,
with its thread pool set to the same thread count as pyx_cnn's and spinning off
(a spinning pool would keep a core busy between calls, and slow whatever runs
next).
"""


def onnxruntime_module():
    """``onnxruntime``, or None when it (or ``onnx``, which ``to_onnx`` needs) is absent."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except Exception:   # not installed, or broken: its column is left out
        return None
    return onnxruntime


def ort_session(onnxruntime, path, threads):
    """An onnxruntime session of the model at `path` on `threads` threads, spinning off."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options,
                                        providers=["CPUExecutionProvider"])
