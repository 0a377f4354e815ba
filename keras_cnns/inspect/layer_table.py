"""The layer table: output shape, parameters, MACs, receptive field and stride of every layer.

Sizes are computed here from each layer's configuration, not read from Keras,
so the table can be checked against the shapes Keras computes (the tests do,
for every registered network) and can follow a fully-convolutional network at
any input size (`layer_table(model, input_shape=(64, 64, 1))`).

Rules, per spatial axis:

* Output size of a convolution or pooling with kernel K, stride S, padding P:
  `(W - K + 2P) / S + 1`, floored (`keras_cnns.models.sizes.conv_output_size`);
  `"same"` padding gives `ceil(W / S)`; a dilation D makes the kernel
  `D (K - 1) + 1` wide.
* Receptive field r and effective stride j (the distance, in input pixels,
  between neighbouring outputs), from the input's r = 1, j = 1:
  `r_out = r_in + (K - 1) j_in` and `j_out = j_in S`
  (Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural
  Networks", Distill 2019). Padding shifts where a window sits, not its size.
  With "same" padding, windows near the border hang over the image, so deep
  layers report receptive fields larger than the image (ResNet-50's last
  feature map: 483, as Araujo et al. list).
* Merges (`Add`, `Concatenate`, `Multiply`, ...): an output position sees
  what each input sees at that position, so r is the largest of the inputs'
  and j the largest (the inputs of a merge share their pixel grid, so their
  strides agree in practice).
* Layers that act on each position alone (batch norm, activations, dropout,
  1x1 convolutions, `Dense` on a feature map) keep r and j; a layer the
  table does not know that keeps the spatial size is assumed to do so too.
* Global pooling, `Flatten` and what follows see the whole input: shown as
  "all", with no stride.

Multiply-accumulates (MACs) count the products of convolutions and dense
layers: `H_out W_out C_out (K_h K_w C_in / groups)` and `inputs x units`.
Pooling, batch norm (folded into the convolution at inference), activations
and adds are not multiply-accumulates and count 0.
"""

import dataclasses
import math

import keras
import numpy as np

from keras_cnns.inspect import graph
from keras_cnns.models.sizes import conv_output_size
from keras_cnns.blocks.residual import ZeroPadShortcut

MERGES = (
    keras.layers.Add,
    keras.layers.Subtract,
    keras.layers.Multiply,
    keras.layers.Average,
    keras.layers.Maximum,
    keras.layers.Minimum,
    keras.layers.Concatenate,
)
POINTWISE = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.PReLU,
    keras.layers.ELU,
    keras.layers.Softmax,
    keras.layers.Normalization,
    keras.layers.Rescaling,
    keras.layers.Identity,
) + graph.INFERENCE_IDENTITIES


@dataclasses.dataclass(frozen=True)
class LayerRow:
    """One row of the layer table: one call of one layer.

    Attributes:
        name: Layer name; ``outer/inner`` inside a nested model.
        layer_type: Class name, e.g. ``"Conv2D"``.
        output_shape: Output shape without the batch axis (None where unknown).
        params: Parameters of the layer (counted at its first call only).
        trainable_params: The trainable part of `params`.
        macs: Multiply-accumulates per image, or None for a layer with
            weights whose computation the table does not know.
        receptive_field: `(height, width)` in input pixels, or None when the
            output sees the whole input (`sees_whole_input`) or it is unknown.
        stride: Effective stride `(height, width)` in input pixels, or None.
        sees_whole_input: True after global pooling or flattening.
        inputs: Names of the layers that feed this one.
    """

    name: str
    layer_type: str
    output_shape: tuple
    params: int
    trainable_params: int
    macs: object
    receptive_field: object
    stride: object
    sees_whole_input: bool
    inputs: tuple


@dataclasses.dataclass(frozen=True)
class LayerTable:
    """The layer table of a model, with totals.

    Attributes:
        model_name: The model's name.
        input_shape: Input shape used, without the batch axis.
        rows: One `LayerRow` per layer call, inputs first.
        total_params: All parameters (`model.count_params()`).
        trainable_params: Trainable parameters.
        total_macs: Multiply-accumulates per image (known layers).
        unknown_macs: Names of layers with weights whose MACs are unknown.
    """

    model_name: str
    input_shape: tuple
    rows: tuple
    total_params: int
    trainable_params: int
    total_macs: int
    unknown_macs: tuple = ()

    @property
    def non_trainable_params(self):
        """Parameters not trained by the optimizer (e.g. batch-norm statistics)."""
        return self.total_params - self.trainable_params

    def row(self, name):
        """The row of the layer named `name`.

        Raises:
            KeyError: If no row has that name.
        """
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"No layer named {name!r} in the table of {self.model_name!r}.")

    def last_spatial_row(self):
        """The last row with a spatial output (and so a receptive field), or None."""
        spatial = [row for row in self.rows if row.receptive_field is not None]
        return spatial[-1] if spatial else None

    def format(self, line_length=120):
        """The table as text, like `model.summary()` with three more columns."""
        return format_layer_table(self, line_length=line_length)

    def __str__(self):
        return self.format()


def layer_table(model, input_shape=None):
    """Computes the layer table of a model.

    Args:
        model: A functional or built `Sequential` Keras model (any network
            of `keras_cnns`, keras.applications, or your own).
        input_shape: Optional `(height, width, channels)` to follow instead of
            the model's own input shape, e.g. a size for a network built with
            `input_shape=(None, None, C)`.

    Returns:
        A `LayerTable`.

    Raises:
        ValueError: If the model has no functional graph, or `input_shape`
            does not fit the model's input.

    Example:

    ```python
    table = layer_table(keras_cnns.get_model("lenet5"))
    print(table)
    table.row("c3_conv").receptive_field   # (14, 14)
    table.total_params                     # 61706
    ```
    """
    model = graph.as_functional(model)
    if len(model.inputs) != 1:
        raise ValueError(
            f"layer_table follows one image input; {model.name!r} has {len(model.inputs)} inputs."
        )
    model_shape = tuple(model.inputs[0].shape[1:])
    if input_shape is None:
        input_shape = model_shape
    input_shape = tuple(None if d is None else int(d) for d in input_shape)
    if len(input_shape) != len(model_shape) or any(
        known is not None and given != known for given, known in zip(input_shape, model_shape)
    ):
        raise ValueError(
            f"input_shape={input_shape} does not fit {model.name!r}, whose input is {model_shape}. "
            "Give (height, width, channels) with the model's fixed sizes; only sizes the model "
            "leaves open (None) can be chosen."
        )
    walker = _Walker()
    rows = walker.walk(model, {id(model.inputs[0]): _Tensor.image(input_shape)}, prefix="")
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return LayerTable(
        model_name=model.name,
        input_shape=input_shape,
        rows=tuple(rows),
        total_params=int(model.count_params()),
        trainable_params=trainable,
        total_macs=sum(row.macs for row in rows if row.macs is not None),
        unknown_macs=tuple(row.name for row in rows if row.macs is None),
    )


@dataclasses.dataclass(frozen=True)
class _Tensor:
    """What the table knows about one tensor: shape, receptive field, stride."""

    shape: tuple  # Without batch axis, in the current data format.
    field: object  # (h, w) or None.
    stride: object  # (h, w) or None.
    whole: bool  # Sees the whole input.

    @classmethod
    def image(cls, shape):
        return cls(shape=shape, field=(1, 1), stride=(1, 1), whole=False)

    @property
    def spatial(self):
        return len(self.shape) == 3


class _Walker:
    """Follows the tensors of a model through its layer calls."""

    def __init__(self):
        self.counted = set()  # Layers whose parameters were counted already.

    def walk(self, model, known, prefix):
        rows = []
        for call in graph.layer_calls(model):
            if isinstance(call.layer, keras.layers.InputLayer):
                tensor = known.get(id(call.output))
                if tensor is None:
                    continue
                if not prefix:
                    rows.append(self._row(call, prefix, tensor, macs=0))
                continue
            inputs = [known[id(t)] for t in call.inputs if id(t) in known]
            if isinstance(call.layer, keras.Model):
                inner = graph.as_functional(call.layer)
                inner_known = {id(t): value for t, value in zip(inner.inputs, inputs)}
                rows.extend(self.walk(inner, inner_known, prefix=f"{prefix}{call.name}/"))
                for outer, inner_output in zip(call.outputs, inner.outputs):
                    known[id(outer)] = inner_known[id(inner_output)]
                continue
            tensor, macs = self._apply(call, inputs)
            known[id(call.output)] = tensor
            rows.append(self._row(call, prefix, tensor, macs))
        return rows

    def _row(self, call, prefix, tensor, macs):
        layer = call.layer
        if id(layer) in self.counted:
            params = trainable = 0
        else:
            self.counted.add(id(layer))
            params = int(layer.count_params()) if layer.built else 0
            trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
        return LayerRow(
            name=prefix + layer.name,
            layer_type=type(layer).__name__,
            output_shape=tensor.shape,
            params=params,
            trainable_params=trainable,
            macs=macs,
            receptive_field=tensor.field,
            stride=tensor.stride,
            sees_whole_input=tensor.whole,
            inputs=tuple(prefix + name for name in call.parents),
        )

    def _apply(self, call, inputs):
        """The output `_Tensor` of a call and its MACs."""
        layer = call.layer
        first = inputs[0]
        if isinstance(layer, graph.CONVOLUTIONS) and not isinstance(layer, keras.layers.Conv2DTranspose):
            return self._convolution(layer, first)
        if isinstance(layer, graph.POOLINGS):
            return _sliding(first, layer.pool_size, layer.strides, (1, 1), layer.padding,
                            _channels(first.shape)), 0
        if isinstance(layer, graph.GLOBAL_POOLINGS):
            channels = _channels(first.shape)
            shape = (1, 1, channels) if layer.keepdims else (channels,)
            if layer.keepdims and _channels_first():
                shape = (channels, 1, 1)
            return _Tensor(shape=shape, field=None, stride=None, whole=True), 0
        if isinstance(layer, keras.layers.Flatten):
            size = _product(first.shape)
            return _Tensor(shape=(size,), field=None, stride=None, whole=True), 0
        if isinstance(layer, keras.layers.Dense):
            units = layer.units
            shape = first.shape[:-1] + (units,)
            positions = _product(first.shape[:-1]) if len(first.shape) > 1 else 1
            macs = None if positions is None else positions * first.shape[-1] * units
            return dataclasses.replace(first, shape=shape), macs
        if isinstance(layer, keras.layers.ZeroPadding2D):
            (top, bottom), (left, right) = layer.padding
            height, width = _spatial(first.shape)
            return _with_spatial(first, _add(height, top + bottom), _add(width, left + right)), 0
        if isinstance(layer, keras.layers.Cropping2D):
            (top, bottom), (left, right) = layer.cropping
            height, width = _spatial(first.shape)
            return _with_spatial(first, _add(height, -top - bottom), _add(width, -left - right)), 0
        if isinstance(layer, ZeroPadShortcut):
            return _sliding(first, (1, 1), (layer.strides, layer.strides), (1, 1), "same",
                            layer.filters), 0
        if isinstance(layer, MERGES):
            return _merge(layer, inputs), 0
        if isinstance(layer, POINTWISE):
            return first, 0
        return self._unknown(call, inputs)

    def _convolution(self, layer, tensor):
        in_channels = _channels(tensor.shape)
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            out_channels = in_channels * layer.depth_multiplier
        else:
            out_channels = layer.filters
        output = _sliding(tensor, layer.kernel_size, layer.strides, layer.dilation_rate,
                          layer.padding, out_channels)
        height, width = _spatial(output.shape)
        if height is None or width is None:
            return output, None
        positions = height * width
        window = layer.kernel_size[0] * layer.kernel_size[1]
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            macs = positions * out_channels * window
        elif isinstance(layer, keras.layers.SeparableConv2D):
            depthwise = in_channels * layer.depth_multiplier
            macs = positions * depthwise * window + positions * depthwise * out_channels
        else:
            groups = getattr(layer, "groups", 1)
            macs = positions * out_channels * window * in_channels // groups
        return output, macs

    def _unknown(self, call, inputs):
        """A layer the table does not know: its shape from Keras."""
        layer = call.layer
        shapes = [(None, *t.shape) for t in inputs]
        try:
            shape = layer.compute_output_shape(shapes[0] if len(shapes) == 1 else shapes)
            shape = tuple(shape[1:])
        except Exception:  # Layers without compute_output_shape: the symbolic shape.
            shape = tuple(call.output.shape[1:])
        macs = 0 if not layer.weights else None
        first = inputs[0]
        if first.whole:
            return _Tensor(shape=shape, field=None, stride=None, whole=True), macs
        if len(shape) == 3 and first.spatial and _spatial(shape) == _spatial(first.shape):
            return dataclasses.replace(first, shape=shape), macs
        return _Tensor(shape=shape, field=None, stride=None, whole=False), macs


def _channels_first():
    return keras.config.image_data_format() == "channels_first"


def _spatial(shape):
    return (shape[1], shape[2]) if _channels_first() else (shape[0], shape[1])


def _channels(shape):
    return shape[0] if _channels_first() else shape[-1]


def _with_spatial(tensor, height, width, channels=None):
    channels = _channels(tensor.shape) if channels is None else channels
    shape = (channels, height, width) if _channels_first() else (height, width, channels)
    return dataclasses.replace(tensor, shape=shape)


def _add(size, delta):
    return None if size is None else size + delta


def _product(shape):
    return None if any(d is None for d in shape) else int(math.prod(shape))


def _sliding(tensor, kernel, strides, dilation, padding, channels):
    """A sliding window (convolution or pooling) over both spatial axes."""
    sizes, fields, steps = [], [], []
    for axis, size in enumerate(_spatial(tensor.shape)):
        span = dilation[axis] * (kernel[axis] - 1) + 1
        sizes.append(conv_output_size(size, span, strides[axis], padding))
        if tensor.field is not None:
            fields.append(tensor.field[axis] + (span - 1) * tensor.stride[axis])
            steps.append(tensor.stride[axis] * strides[axis])
    output = _with_spatial(tensor, sizes[0], sizes[1], channels)
    if tensor.field is None:
        return dataclasses.replace(output, field=None, stride=None)
    return dataclasses.replace(output, field=tuple(fields), stride=tuple(steps))


def _merge(layer, inputs):
    """Receptive field and stride of a merge: the largest of its inputs'."""
    first = inputs[0]
    if isinstance(layer, keras.layers.Concatenate):
        axis = layer.axis % (len(first.shape) + 1) - 1  # Without the batch axis.
        sizes = [t.shape[axis] for t in inputs]
        total = None if any(s is None for s in sizes) else sum(sizes)
        shape = tuple(total if i == axis else d for i, d in enumerate(first.shape))
    else:
        shape = first.shape
    if any(t.whole for t in inputs):
        return _Tensor(shape=shape, field=None, stride=None, whole=True)
    if any(t.field is None for t in inputs):
        return _Tensor(shape=shape, field=None, stride=None, whole=False)
    field = tuple(max(t.field[axis] for t in inputs) for axis in range(2))
    stride = tuple(max(t.stride[axis] for t in inputs) for axis in range(2))
    return _Tensor(shape=shape, field=field, stride=stride, whole=False)


def format_layer_table(table, line_length=120):
    """Formats a `LayerTable` as text.

    Columns: layer (type), output shape, parameters, MACs, receptive field,
    effective stride, and, for networks with branches, the layers each one
    is connected to. Totals follow.
    """
    branched = any(len(row.inputs) > 1 for row in table.rows)
    headers = ["Layer (type)", "Output shape", "Params", "MACs", "RF", "Stride"]
    cells = [
        [
            f"{row.name} ({row.layer_type})",
            _shape_text(row.output_shape),
            f"{row.params:,}",
            "?" if row.macs is None else f"{row.macs:,}",
            "all" if row.sees_whole_input else _pair_text(row.receptive_field),
            _pair_text(row.stride),
        ]
        for row in table.rows
    ]
    if branched:
        headers.append("Connected to")
        for cell, row in zip(cells, table.rows):
            cell.append(", ".join(row.inputs))
    widths = [max(len(headers[i]), *(len(cell[i]) for cell in cells)) for i in range(len(headers))]
    right = {2, 3}

    def line(values):
        parts = [v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths))]
        return "  ".join(parts).rstrip()

    rule_length = min(line_length, len(line(headers))) if not branched else len(line(headers))
    lines = [f'Layer table of "{table.model_name}", input {_shape_text(table.input_shape)}',
             "=" * rule_length, line(headers), "-" * rule_length]
    lines += [line(cell) for cell in cells]
    lines.append("=" * rule_length)
    lines.append(f"Total params: {table.total_params:,} (trainable {table.trainable_params:,}, "
                 f"non-trainable {table.non_trainable_params:,})")
    macs = f"Total MACs per image: {table.total_macs:,} ({_si(table.total_macs)})"
    if table.unknown_macs:
        macs += f", not counting {', '.join(table.unknown_macs)}"
    lines.append(macs)
    last = table.last_spatial_row()
    if last is not None:
        lines.append(f"Last spatial layer: {last.name}, receptive field {_pair_text(last.receptive_field)}, "
                     f"effective stride {_pair_text(last.stride)}")
    return "\n".join(lines)


def _shape_text(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _pair_text(pair):
    if pair is None:
        return "-"
    height, width = pair
    return str(height) if height == width else f"{height}x{width}"


def _si(count):
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if count >= limit:
            return f"{count / limit:.2f} {suffix}"
    return str(count)
