"""Loss, optimizer and weight decay for a `TrainConfig`."""

import keras
from keras import ops

from keras_cnns.train.schedules import build_schedule
from keras_cnns.validation import check_number

SGD_MOMENTUM = 0.9
# The variable name of a Keras normalization layer's bias (BatchNormalization, LayerNormalization, ...).
NORM_BIAS_NAME = "beta"
# Variables whose names contain these are not decayed by AdamW.
NO_DECAY_NAMES = ("bias", "gamma", "beta")


@keras.saving.register_keras_serializable(package="keras_cnns")
class SparseCategoricalCrossentropyWithSmoothing(keras.losses.Loss):
    """Cross-entropy on integer labels with label smoothing.

    `keras.losses.SparseCategoricalCrossentropy` has no label smoothing;
    this one-hot encodes the labels and uses the categorical form, where the
    target becomes `(1 - label_smoothing) * one_hot + label_smoothing /
    classes`.

    Reference: C. Szegedy et al., "Rethinking the Inception Architecture for
    Computer Vision", CVPR 2016 (section 7).

    Args:
        label_smoothing: In `[0, 1)`.
        from_logits: Whether predictions are logits rather than probabilities.
        reduction: As for Keras losses.
        name: Loss name.
    """

    def __init__(self, label_smoothing=0.0, from_logits=False, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy_with_smoothing", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        labels = ops.cast(y_true, "int32")
        if len(labels.shape) == len(y_pred.shape):
            labels = ops.squeeze(labels, axis=-1)
        one_hot = ops.one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, from_logits=self.from_logits, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        config = super().get_config()
        config.update(label_smoothing=self.label_smoothing, from_logits=self.from_logits)
        return config


def build_loss(label_smoothing):
    """Cross-entropy on integer labels and softmax outputs.

    Keras' own `SparseCategoricalCrossentropy` without smoothing (so a saved
    model needs no custom object), else the smoothing variant.
    """
    if label_smoothing == 0:
        return keras.losses.SparseCategoricalCrossentropy()
    return SparseCategoricalCrossentropyWithSmoothing(label_smoothing)


def norm_biases(variables):
    """The normalization layers' biases among `variables`: those named `beta`."""
    return [variable for variable in variables if variable.name == NORM_BIAS_NAME]


def describe_norm_bias_scale(model, scale):
    """What `norm_bias_lr_scale=scale` does to `model`: `(message, changes_anything)`."""
    count = len(norm_biases(model.trainable_variables))
    if count:
        return (f"{count} normalization {'bias' if count == 1 else 'biases'} (beta) learn{'s' if count == 1 else ''} "
                f"at {scale:g} times the learning rate "
                f"(norm_bias_lr_scale).", True)
    return (f"norm_bias_lr_scale={scale:g} changes nothing: this network has no normalization layer with a bias "
            f"(no trainable variable named 'beta'). Pass norm_bias_lr_scale=1, or a network with batch norm "
            f"(e.g. model_kwargs batch_norm=True for VGG).", False)


@keras.saving.register_keras_serializable(package="keras_cnns")
class NormBiasScaledSGD(keras.optimizers.SGD):
    """SGD whose normalization biases (`beta`) learn at `norm_bias_lr_scale` times the learning rate.

    airbench trains its batch-norm biases at 64 times the learning rate of
    the other weights (K. Jordan, "94% on CIFAR-10 in 3.29 seconds on a
    single GPU", 2024; repository KellerJordan/cifar10-airbench). Keras
    optimizers have one learning rate for every variable; this one
    multiplies it by the scale in the update of each variable named `beta`
    (the biases of Keras's normalization layers), found when the optimizer
    is built. Gradient clipping (which sees the gradients before any update)
    and a decoupled `weight_decay` are not scaled.

    Everything else is Keras's SGD (`use_ema` included), so it runs on every
    backend (on PyTorch it updates one variable at a time, where Keras's own
    SGD updates them together); `model.save` records the scale, and loading
    needs `keras_cnns` imported (the class registers itself).

    Args:
        norm_bias_lr_scale: The factor, above 0 (e.g. 8; 1 is plain SGD).
            Keyword only: SGD's first argument is the learning rate.
        **kwargs: `keras.optimizers.SGD`'s arguments.

    Raises:
        ValueError: If the scale is not a finite number above 0.
    """

    def __init__(self, *, norm_bias_lr_scale=1.0, **kwargs):
        check_number("norm_bias_lr_scale", norm_bias_lr_scale, low=0, low_inclusive=False,
                     example="8 (normalization biases learn 8 times faster), or 1 for one rate for all")
        super().__init__(**kwargs)
        self.norm_bias_lr_scale = float(norm_bias_lr_scale)
        self._norm_bias_indices = set()

    def build(self, variables):
        super().build(variables)
        self._norm_bias_indices = {self._get_variable_index(v) for v in norm_biases(variables)}

    def update_step(self, gradient, variable, learning_rate):
        # By index, not by name: TensorFlow's distributed update passes the backend's own variable here.
        if self._get_variable_index(variable) in self._norm_bias_indices:
            learning_rate = learning_rate * self.norm_bias_lr_scale
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "norm_bias_lr_scale": self.norm_bias_lr_scale}


def build_optimizer(config, steps_per_epoch):
    """The optimizer a `TrainConfig` asks for, with its learning-rate schedule.

    `"sgd"` and `"adam"` get no decay here (it is an L2 penalty, see
    `add_kernel_l2`); `"adamw"` gets decoupled decay that skips biases and
    batch-norm parameters. SGD with a `norm_bias_lr_scale` other than 1 is
    `NormBiasScaledSGD`.

    Args:
        config: A `TrainConfig`.
        steps_per_epoch: Optimizer steps per epoch, for the schedule.

    Returns:
        A `keras.optimizers.Optimizer`, not yet built.
    """
    schedule = build_schedule(config, steps_per_epoch)
    # Keras keeps the moving average of the weights in the optimizer (callbacks.WeightAveraging swaps it in).
    averaging = {} if config.ema_decay is None else {"use_ema": True, "ema_momentum": config.ema_decay}
    if config.optimizer == "sgd":
        if config.norm_bias_lr_scale != 1:
            return NormBiasScaledSGD(norm_bias_lr_scale=config.norm_bias_lr_scale, learning_rate=schedule,
                                     momentum=SGD_MOMENTUM, nesterov=True, **averaging)
        return keras.optimizers.SGD(schedule, momentum=SGD_MOMENTUM, nesterov=True, **averaging)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(schedule, **averaging)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay, **averaging)
    optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY_NAMES))
    return optimizer


def add_kernel_l2(model, weight_decay):
    """Adds the coupled L2 penalty `weight_decay / 2 * ||w||^2` on every kernel.

    The gradient of the penalty is `weight_decay * w`, which is what
    `weight_decay` means for SGD in PyTorch and in the papers' recipes.
    Attached to the variables after the model is built, so the builders need
    no regularizer arguments; it is not saved with the model (a trainer that
    resumes builds the model again and adds it again).

    Args:
        model: A built `keras.Model`.
        weight_decay: Coefficient; 0 does nothing.

    Returns:
        The number of kernels penalized.
    """
    if weight_decay == 0:
        return 0
    regularizer = keras.regularizers.L2(weight_decay / 2)
    kernels = [v for v in model.trainable_variables if v.name.endswith("kernel")]
    for kernel in kernels:
        kernel.regularizer = regularizer
    return len(kernels)


def uses_kernel_l2(config):
    """Whether `config`'s weight decay is the L2 penalty (not AdamW's)."""
    return config.optimizer in ("sgd", "adam") and config.weight_decay > 0
