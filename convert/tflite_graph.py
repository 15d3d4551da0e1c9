"""A float TFLite graph as a TensorFlow function, so it can be rebuilt with another input size.

Why: a TFLite file fixes its input size (its RESHAPE ops carry the anchor counts of that size),
and MediaPipe publishes BlazeFace only as TFLite. The network itself is fully convolutional, so
the same weights run at any input size once the graph is rebuilt. This reads the flatbuffer with
TensorFlow's own schema, takes every weight from a LiteRT interpreter (which has already
dequantised float16 weights and densified sparse ones), and replays the operators in TensorFlow.
Only the operators of the BlazeFace graphs are known; any other stops with its name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from convert import ConvertError


def graph_function(path: Path, input_size: tuple[int, int] | None = None) -> Any:
    """``tf.function`` of the TFLite graph at ``path`` (one float32 NHWC input, outputs by name).

    ``input_size`` (width, height) replaces the stored input size; RESHAPE ops keep their last
    dimension and let the middle one follow the size.
    """
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(path.read_bytes(), 0))
    graph = model.subgraphs[0]
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    padding = {schema.Padding.SAME: "SAME", schema.Padding.VALID: "VALID"}
    relu, no_activation = schema.ActivationFunctionType.RELU, schema.ActivationFunctionType.NONE

    # The reference kernels without XNNPACK keep every intermediate tensor readable: weights as
    # the model computes them, whatever their stored form.
    reader = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    reader.allocate_tensors()
    reader.invoke()
    weights: dict[int, np.ndarray] = {}
    for i, tensor in enumerate(graph.tensors):
        buffer = model.buffers[tensor.buffer].data
        if buffer is not None and len(buffer) and tensor.type in (schema.TensorType.FLOAT32, schema.TensorType.INT32):
            weights[i] = reader.get_tensor(i)
    ops = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = names[max(code.builtinCode, code.deprecatedBuiltinCode)]
        if name in ("DEQUANTIZE", "DENSIFY"):  # a weight in its stored form → its float value
            weights[op.outputs[0]] = reader.get_tensor(op.outputs[0]).astype(np.float32)
            continue
        ops.append((name, list(op.inputs), op.outputs[0], op.builtinOptions))
    channels = {i: int(t.shape[-1]) for i, t in enumerate(graph.tensors)}
    shapes = {i: [int(d) for d in t.shape] for i, t in enumerate(graph.tensors)}

    def run(image):
        env: dict[int, Any] = {graph.inputs[0]: image}

        def value(i: int):
            return env[i] if i in env else tf.constant(weights[i])

        for name, inputs, output, o in ops:
            activation = getattr(o, "fusedActivationFunction", no_activation)
            if name == "CONV_2D":  # filters (out, kh, kw, in) → (kh, kw, in, out)
                kernel = tf.transpose(value(inputs[1]), (1, 2, 3, 0))
                y = tf.nn.conv2d(value(inputs[0]), kernel, (1, o.strideH, o.strideW, 1), padding[o.padding])
                y = y + value(inputs[2])
            elif name == "DEPTHWISE_CONV_2D":  # filters (1, kh, kw, in·m) → (kh, kw, in, m)
                k = weights[inputs[1]]
                kernel = tf.reshape(k, (k.shape[1], k.shape[2], k.shape[3] // o.depthMultiplier, o.depthMultiplier))
                y = tf.nn.depthwise_conv2d(value(inputs[0]), kernel, (1, o.strideH, o.strideW, 1), padding[o.padding])
                y = y + value(inputs[2])
            elif name == "ADD":
                y = value(inputs[0]) + value(inputs[1])
            elif name == "RELU":
                y = tf.nn.relu(value(inputs[0]))
            elif name == "PAD":
                y = tf.pad(value(inputs[0]), weights[inputs[1]])
            elif name == "MAX_POOL_2D":
                y = tf.nn.max_pool2d(value(inputs[0]), (o.filterHeight, o.filterWidth), (o.strideH, o.strideW),
                                     padding[o.padding])
            elif name == "RESIZE_BILINEAR":  # to twice the size, as the stored shapes say
                x = value(inputs[0])
                scale = shapes[output][1] // shapes[inputs[0]][1]
                y = tf.compat.v1.image.resize_bilinear(x, tf.shape(x)[1:3] * scale, align_corners=o.alignCorners,
                                                       half_pixel_centers=o.halfPixelCenters)
            elif name == "RESHAPE":  # (1, h, w, anchors·k) → (1, h·w·anchors, k)
                y = tf.reshape(value(inputs[0]), (1, -1, channels[output]))
            elif name == "CONCATENATION":
                y = tf.concat([value(i) for i in inputs], o.axis)
            else:
                raise ConvertError(f"{path.name}: operator {name} is not supported by convert.tflite_graph")
            if activation == relu:
                y = tf.nn.relu(y)
            elif activation != no_activation:
                raise ConvertError(f"{path.name}: fused activation {activation} of {name} is not supported")
            env[output] = y
        return {graph.tensors[i].name.decode(): env[i] for i in graph.outputs}

    shape = shapes[graph.inputs[0]]
    if input_size:
        shape[2], shape[1] = input_size
    return tf.function(run, input_signature=[tf.TensorSpec(shape, tf.float32, name="input")])


def to_tflite(function: Any, float16_weights: bool = True) -> bytes:
    """The function as a float TFLite model; weights stored as float16 like MediaPipe's (half the bytes)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], function)
    if float16_weights:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()
