"""TFLite Model Metadata: name, description, input and output facts and the label file, inside the `.tflite` file.

MediaPipe Tasks, Android Studio's ML Model Binding and the TFLite Support
libraries read the metadata of the TFLite metadata schema
(`metadata_schema.fbs`, the `M001` flatbuffer; MediaPipe ships the schema
as `mediapipe/tasks/metadata/metadata_schema.fbs`): a `ModelMetadata` table
stored in a model buffer named `TFLITE_METADATA`, and its associated files
(the label file) packed into the `.tflite` file as an uncompressed zip
archive appended to the flatbuffer.

The maintained writers cannot be used beside TensorFlow 2.21
(`tflite-support` pins `protobuf<4`; MediaPipe 1.2's writer needs a compiled
module its wheel lacks), so the tables are built here with `flatbuffers`,
field by field, by their positions in the schema. Only fields of schema
version 1.0.0 are written, so `min_parser_version` is `"1.0.0"`.
`read_metadata` reads them back; the tests also read them with MediaPipe's
own generated module and run the file through its `ImageClassifier`.
"""

import dataclasses
import io
import zipfile

import flatbuffers
from flatbuffers import number_types
from flatbuffers.table import Table

METADATA_NAME = b"TFLITE_METADATA"
FILE_IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.0.0"
LABEL_FILE = "labels.txt"

# Enum values of metadata_schema.fbs.
_IMAGE_PROPERTIES = 2  # ContentProperties.ImageProperties
_FEATURE_PROPERTIES = 1  # ContentProperties.FeatureProperties
_NORMALIZATION_OPTIONS = 1  # ProcessUnitOptions.NormalizationOptions
_COLOR_SPACES = {"RGB": 1, "GRAYSCALE": 2}
_TENSOR_AXIS_LABELS = 2  # AssociatedFileType.TENSOR_AXIS_LABELS


class MetadataError(ValueError):
    """A `.tflite` file's metadata is missing, does not parse, or contradicts the model."""


@dataclasses.dataclass
class ImageClassifierMetadata:
    """What the metadata of an image classifier says.

    Attributes:
        name, description, version, author, license: The model's.
        input_name, input_description: The image tensor's.
        color_space: `"RGB"` or `"GRAYSCALE"`.
        image_size: `(height, width)`.
        mean, std: `NormalizationOptions` (the app computes
            `(pixel - mean) / std` for a float input; `[0.0]`, `[1.0]`:
            pixels as they are).
        input_range: `(min, max)` of the input values (`Stats`).
        output_name, output_description: The probability tensor's.
        labels: One class name per output, from the packed label file.
        label_file: The label file's name inside the `.tflite` file.
        min_parser_version: The metadata parser version it needs.
    """

    name: str
    description: str
    version: str
    author: str
    license: str
    input_name: str
    input_description: str
    color_space: str
    image_size: tuple
    mean: list
    std: list
    input_range: tuple
    output_name: str
    output_description: str
    labels: list
    label_file: str = LABEL_FILE
    min_parser_version: str = MIN_PARSER_VERSION


def write_metadata(content, metadata):
    """`content` with `metadata` stored in it and its label file packed after it.

    Args:
        content: A `.tflite` flatbuffer (bytes) with one input and one output
            and no metadata yet.
        metadata: An `ImageClassifierMetadata`.

    Returns:
        The new `.tflite` content (bytes).

    Raises:
        MetadataError: If the model already has metadata, or the labels do
            not match its output.
    """
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(content, 0))
    if any(entry.name == METADATA_NAME for entry in model.metadata or []):
        raise MetadataError("The model already holds TFLite metadata; write it into a file without.")
    graph = model.subgraphs[0]
    classes = int(graph.tensors[graph.outputs[0]].shape[-1])
    if len(metadata.labels) != classes:
        raise MetadataError(
            f"The label file would list {len(metadata.labels)} classes but the model outputs {classes} "
            "probabilities; give one class name per output."
        )
    if any("\n" in label or not label for label in metadata.labels):
        raise MetadataError(f"Class names must be non-empty and on one line each; received {metadata.labels!r}.")
    buffer = _aligned_buffer(_metadata_flatbuffer(metadata))
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers)
    model.buffers.append(buffer)
    model.metadata = [*(model.metadata or []), entry]
    builder = flatbuffers.Builder(len(content) + len(buffer.data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    packed = io.BytesIO(bytes(builder.Output()))
    # Appended, stored uncompressed: readers map the label file straight out of the model file.
    with zipfile.ZipFile(packed, "a", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(metadata.label_file, "\n".join(metadata.labels) + "\n")
    return packed.getvalue()


def read_metadata(content):
    """The `ImageClassifierMetadata` in a `.tflite` file's content.

    Raises:
        MetadataError: If there is none, it does not parse, or its label file
            is missing or lists another number of classes than the model
            outputs.
    """
    from ai_edge_litert import schema_py_generated as schema

    try:
        model = schema.Model.GetRootAsModel(content, 0)
        entries = [model.Metadata(i) for i in range(model.MetadataLength())]
        found = [entry for entry in entries if entry.Name() == METADATA_NAME]
    except Exception as error:  # A flatbuffer reader raises whatever its offsets run into.
        raise MetadataError(f"The file is not a readable TFLite model ({type(error).__name__}: {error}).") from None
    if not found:
        raise MetadataError(
            "The file holds no TFLite metadata (no TFLITE_METADATA buffer): it was not exported with "
            "the mobile format. Export it with --formats mobile_float32,mobile_int8."
        )
    data = model.Buffers(found[0].Buffer()).DataAsNumpy().tobytes()
    try:
        metadata = _parse(data)
    except MetadataError:
        raise
    except Exception as error:
        raise MetadataError(f"The TFLite metadata does not parse ({type(error).__name__}: {error}).") from None
    subgraph = model.Subgraphs(0)
    classes = int(subgraph.Tensors(subgraph.Outputs(0)).ShapeAsNumpy()[-1])
    metadata.labels = _read_labels(content, metadata.label_file)
    if len(metadata.labels) != classes:
        raise MetadataError(
            f"The label file {metadata.label_file} lists {len(metadata.labels)} classes but the model "
            f"outputs {classes} probabilities."
        )
    return metadata


# ------------------------------------------------------------ writing


def _metadata_flatbuffer(metadata):
    builder = flatbuffers.Builder(1024)
    strings = {key: builder.CreateString(value) for key, value in (
        ("name", metadata.name), ("description", metadata.description), ("version", metadata.version),
        ("author", metadata.author), ("license", metadata.license), ("parser", metadata.min_parser_version),
        ("input_name", metadata.input_name), ("input_description", metadata.input_description),
        ("output_name", metadata.output_name), ("output_description", metadata.output_description),
        ("label_file", metadata.label_file),
        ("label_description", "The class names, one per line, in the order of the output probabilities."),
        ("subgraph", "image_classifier"))}
    height, width = metadata.image_size
    image_size = _table(builder, [(0, "uint32", width), (1, "uint32", height)])  # ImageSize
    image_properties = _table(builder, [(0, "int8", _COLOR_SPACES[metadata.color_space]), (1, "offset", image_size)])
    input_content = _table(builder, [(0, "uint8", _IMAGE_PROPERTIES), (1, "offset", image_properties)])  # Content
    normalization = _table(builder, [(0, "offset", _float_vector(builder, metadata.mean)),
                                     (1, "offset", _float_vector(builder, metadata.std))])
    process_unit = _table(builder, [(0, "uint8", _NORMALIZATION_OPTIONS), (1, "offset", normalization)])
    input_stats = _table(builder, [(0, "offset", _float_vector(builder, [metadata.input_range[1]])),
                                   (1, "offset", _float_vector(builder, [metadata.input_range[0]]))])
    input_tensor = _table(builder, [(0, "offset", strings["input_name"]), (1, "offset", strings["input_description"]),
                                    (3, "offset", input_content), (4, "offset", _vector(builder, [process_unit])),
                                    (5, "offset", input_stats)])
    label_file = _table(builder, [(0, "offset", strings["label_file"]), (1, "offset", strings["label_description"]),
                                  (2, "int8", _TENSOR_AXIS_LABELS)])
    feature_properties = _table(builder, [])
    output_content = _table(builder, [(0, "uint8", _FEATURE_PROPERTIES), (1, "offset", feature_properties)])
    output_stats = _table(builder, [(0, "offset", _float_vector(builder, [1.0])),
                                    (1, "offset", _float_vector(builder, [0.0]))])
    output_tensor = _table(builder, [(0, "offset", strings["output_name"]), (1, "offset", strings["output_description"]),
                                     (3, "offset", output_content), (5, "offset", output_stats),
                                     (6, "offset", _vector(builder, [label_file]))])
    subgraph = _table(builder, [(0, "offset", strings["subgraph"]), (2, "offset", _vector(builder, [input_tensor])),
                                (3, "offset", _vector(builder, [output_tensor]))])
    root = _table(builder, [(0, "offset", strings["name"]), (1, "offset", strings["description"]),
                            (2, "offset", strings["version"]), (3, "offset", _vector(builder, [subgraph])),
                            (4, "offset", strings["author"]), (5, "offset", strings["license"]),
                            (7, "offset", strings["parser"])])
    builder.Finish(root, file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


_PREPEND = {"offset": "PrependUOffsetTRelativeSlot", "uint32": "PrependUint32Slot", "uint8": "PrependUint8Slot",
            "int8": "PrependInt8Slot"}


def _table(builder, fields):
    """A table from `(slot, kind, value)` fields; slots count the schema's fields from 0 (a union takes two)."""
    builder.StartObject(1 + max((slot for slot, _, _ in fields), default=-1))
    for slot, kind, value in fields:
        getattr(builder, _PREPEND[kind])(slot, value, 0)
    return builder.EndObject()


def _vector(builder, offsets):
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def _float_vector(builder, values):
    builder.StartVector(4, len(values), 4)
    for value in reversed(values):
        builder.PrependFloat32(float(value))
    return builder.EndVector()


def _aligned_buffer(data):
    """A model buffer holding `data` from a 16-byte boundary (the schema's `force_align: 16`).

    The metadata flatbuffer in it is read in place, so it must be aligned like
    any flatbuffer; the generated `BufferT.Pack` aligns to 1 byte only.
    """
    from ai_edge_litert import schema_py_generated as schema

    class AlignedBuffer(schema.BufferT):
        def Pack(self, builder):
            builder.StartVector(1, len(self.data), 16)
            for byte in reversed(self.data):
                builder.PrependUint8(byte)
            vector = builder.EndVector()
            schema.BufferStart(builder)
            schema.BufferAddData(builder, vector)
            return schema.BufferEnd(builder)

    buffer = AlignedBuffer()
    buffer.data = data
    return buffer


# ------------------------------------------------------------ reading


def _parse(data):
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise MetadataError(
            f"The TFLITE_METADATA buffer is not a metadata flatbuffer (identifier {data[4:8]!r}, expected "
            f"{FILE_IDENTIFIER!r})."
        )
    root = Table(bytearray(data), flatbuffers.encode.Get(flatbuffers.packer.uoffset, data, 0))
    subgraphs = _tables(root, 3)
    if not subgraphs:
        raise MetadataError("The TFLite metadata has no subgraph metadata.")
    inputs, outputs = _tables(subgraphs[0], 2), _tables(subgraphs[0], 3)
    if len(inputs) != 1 or len(outputs) != 1:
        raise MetadataError(f"The TFLite metadata describes {len(inputs)} inputs and {len(outputs)} outputs, not 1 and 1.")
    image, probabilities = inputs[0], outputs[0]
    content = _subtable(image, 3)
    properties = _subtable(content, 1) if content is not None and _scalar(content, 0, number_types.Uint8Flags) == _IMAGE_PROPERTIES else None
    if properties is None:
        raise MetadataError("The input tensor's metadata has no ImageProperties: it does not describe an image.")
    size = _subtable(properties, 1)
    color = _scalar(properties, 0, number_types.Int8Flags)
    units = [unit for unit in _tables(image, 4) if _scalar(unit, 0, number_types.Uint8Flags) == _NORMALIZATION_OPTIONS]
    if not units:
        raise MetadataError("The input tensor's metadata has no NormalizationOptions.")
    normalization = _subtable(units[0], 1)
    stats = _subtable(image, 5)
    label_files = [f for f in _tables(probabilities, 6) if _scalar(f, 2, number_types.Int8Flags) == _TENSOR_AXIS_LABELS]
    if not label_files:
        raise MetadataError("The output tensor's metadata names no label file (TENSOR_AXIS_LABELS).")
    return ImageClassifierMetadata(
        name=_string(root, 0), description=_string(root, 1), version=_string(root, 2),
        author=_string(root, 4), license=_string(root, 5), min_parser_version=_string(root, 7),
        input_name=_string(image, 0), input_description=_string(image, 1),
        color_space={value: key for key, value in _COLOR_SPACES.items()}.get(color, "UNKNOWN"),
        image_size=(_scalar(size, 1, number_types.Uint32Flags), _scalar(size, 0, number_types.Uint32Flags)),
        mean=_floats(normalization, 0), std=_floats(normalization, 1),
        input_range=(_floats(stats, 1)[0], _floats(stats, 0)[0]) if stats is not None else None,
        output_name=_string(probabilities, 0), output_description=_string(probabilities, 1),
        labels=[], label_file=_string(label_files[0], 0),
    )


def _read_labels(content, name):
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            text = archive.read(name).decode("utf-8")
    except (zipfile.BadZipFile, KeyError) as error:
        raise MetadataError(
            f"The metadata names the label file {name!r}, but the .tflite file holds no such packed file "
            f"({error}). Export the model again."
        ) from None
    return [line for line in text.splitlines() if line.strip()]


def _field(table, slot):
    return table.Offset(4 + 2 * slot)


def _string(table, slot):
    offset = _field(table, slot)
    return table.String(offset + table.Pos).decode("utf-8") if offset else None


def _scalar(table, slot, flags):
    offset = _field(table, slot)
    return table.Get(flags, offset + table.Pos) if offset else 0


def _subtable(table, slot):
    offset = _field(table, slot)
    return Table(table.Bytes, table.Indirect(offset + table.Pos)) if offset else None


def _tables(table, slot):
    offset = _field(table, slot)
    if not offset:
        return []
    start = table.Vector(offset)
    return [Table(table.Bytes, table.Indirect(start + 4 * index)) for index in range(table.VectorLen(offset))]


def _floats(table, slot):
    offset = _field(table, slot) if table is not None else 0
    if not offset:
        return []
    start = table.Vector(offset)
    return [table.Get(number_types.Float32Flags, start + 4 * index) for index in range(table.VectorLen(offset))]
