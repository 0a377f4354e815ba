"""Joining two `.tflite` graphs into one: the first's output feeds the second's input.

The mobile files (`keras_cnns.export.mobile`) are the photo preparation, in
float32, followed by the network, in float32 or int8: the converter
quantizes a whole graph or nothing, and the preparation's geometry (where
the object is, which pixels a window covers) needs float precision while the
network runs well in int8. Each part is converted on its own and the two are
joined here, with LiteRT's flatbuffer schema (`ai_edge_litert.schema_py_generated`).
"""

import flatbuffers
from ai_edge_litert import schema_py_generated as schema

_RUNTIME_VERSION = b"min_runtime_version"


def chain_tflite(first, second, *, input_name="image", output_name="probabilities"):
    """One `.tflite` flatbuffer computing `second(first(x))`.

    Args:
        first: `.tflite` content (bytes) with one input and one output.
        second: `.tflite` content with one input, of the dtype and shape of
            `first`'s output, and one output.
        input_name: The joined graph's input name in its signature.
        output_name: Its output name.

    Returns:
        The joined `.tflite` content (bytes): `first`'s input, `second`'s
        output, every operator of both, one `serving_default` signature.

    Raises:
        ValueError: If a graph has several inputs or outputs, or the two do
            not fit together.
    """
    head, tail = _read(first), _read(second)
    head_graph, tail_graph = _only_subgraph(head, "first"), _only_subgraph(tail, "second")
    joint = head_graph.tensors[head_graph.outputs[0]]
    tail_input = tail_graph.tensors[tail_graph.inputs[0]]
    if joint.type != tail_input.type or list(joint.shape[1:]) != list(tail_input.shape[1:]):
        raise ValueError(
            f"The first graph outputs {_describe(joint)} but the second takes {_describe(tail_input)}; "
            "they cannot be chained."
        )

    model = schema.ModelT()
    model.version = tail.version
    model.description = b"keras_cnns: two graphs chained (keras_cnns.export.tflite_graphs)"
    model.buffers = [schema.BufferT()]  # Buffer 0 is the empty sentinel, in every model.
    model.operatorCodes, model.metadata = [], []
    graph = schema.SubGraphT()
    graph.tensors, graph.operators = [], []
    graph.name = head_graph.name

    head_tensors = _append_graph(model, graph, head, head_graph, prefix=b"preparation/")
    joint_index = head_tensors[head_graph.outputs[0]]
    tail_tensors = _append_graph(model, graph, tail, tail_graph, prefix=b"", replace={tail_graph.inputs[0]: joint_index})
    graph.inputs = [head_tensors[head_graph.inputs[0]]]
    graph.outputs = [tail_tensors[tail_graph.outputs[0]]]
    model.subgraphs = [graph]
    model.metadata = _joint_metadata(model, head, tail)
    model.signatureDefs = [_signature(graph.inputs[0], graph.outputs[0], input_name, output_name)]

    builder = flatbuffers.Builder(len(first) + len(second) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _read(content):
    return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(content, 0))


def _only_subgraph(model, which):
    if len(model.subgraphs) != 1:
        raise ValueError(f"The {which} graph has {len(model.subgraphs)} subgraphs; chaining needs one.")
    graph = model.subgraphs[0]
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ValueError(
            f"The {which} graph has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; chaining "
            "needs one of each."
        )
    return graph


def _describe(tensor):
    names = {value: name for name, value in vars(schema.TensorType).items() if not name.startswith("_")}
    return f"{names.get(tensor.type, tensor.type)} {list(tensor.shape)}"


def _append_graph(model, graph, source, source_graph, *, prefix, replace=None):
    """Copies `source_graph`'s tensors, buffers, operator codes and operators into `model` / `graph`.

    Returns:
        `{index in source_graph: index in graph}` of its tensors; a tensor
        listed in `replace` is not copied, its uses point to the given index.
    """
    replace = replace or {}
    buffers = {0: 0}
    for index, buffer in enumerate(source.buffers):
        if index:
            buffers[index] = len(model.buffers)
            model.buffers.append(buffer)
    tensors = dict(replace)
    for index, tensor in enumerate(source_graph.tensors):
        if index in replace:
            continue
        tensor.buffer = buffers[tensor.buffer]
        tensor.name = prefix + (tensor.name or b"")
        tensors[index] = len(graph.tensors)
        graph.tensors.append(tensor)
    codes = {index: _operator_code_index(model, code) for index, code in enumerate(source.operatorCodes)}
    for operator in source_graph.operators:
        operator.opcodeIndex = codes[operator.opcodeIndex]
        operator.inputs = [tensors[i] if i >= 0 else i for i in (operator.inputs if operator.inputs is not None else [])]
        operator.outputs = [tensors[i] for i in (operator.outputs if operator.outputs is not None else [])]
        if operator.intermediates is not None and len(operator.intermediates):
            operator.intermediates = [tensors[i] for i in operator.intermediates]
        graph.operators.append(operator)
    for entry in source.metadata or []:
        entry.buffer = buffers[entry.buffer]
    return tensors


def _operator_code_index(model, code):
    key = (code.builtinCode, code.deprecatedBuiltinCode, code.customCode, code.version)
    for index, known in enumerate(model.operatorCodes):
        if (known.builtinCode, known.deprecatedBuiltinCode, known.customCode, known.version) == key:
            return index
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _joint_metadata(model, head, tail):
    """The second graph's metadata entries, its minimum runtime version raised to the first's if higher."""
    entries = list(tail.metadata or [])
    versions = [_runtime_version(model, entry) for entry in (head.metadata or []) + entries
                if entry.name == _RUNTIME_VERSION]
    for entry in entries:
        if entry.name == _RUNTIME_VERSION and versions:
            highest = max(versions, key=lambda text: tuple(int(part) for part in text.split(".") if part.isdigit()))
            buffer = schema.BufferT()
            buffer.data = list(highest.encode() + b"\0" * (16 - len(highest)))
            entry.buffer = len(model.buffers)
            model.buffers.append(buffer)
    return entries


def _runtime_version(model, entry):
    data = model.buffers[entry.buffer].data
    data = b"" if data is None else bytes(bytearray(data))
    return data.split(b"\0")[0].decode()


def _signature(input_index, output_index, input_name, output_name):
    signature = schema.SignatureDefT()
    signature.signatureKey = b"serving_default"
    signature.subgraphIndex = 0
    signature.inputs = [_tensor_map(input_name, input_index)]
    signature.outputs = [_tensor_map(output_name, output_index)]
    return signature


def _tensor_map(name, index):
    mapping = schema.TensorMapT()
    mapping.name = name.encode()
    mapping.tensorIndex = index
    return mapping
