"""Learning-rate schedules, step-based and serializable.

Each schedule is a `keras.optimizers.schedules.LearningRateSchedule` written
with `keras.ops`, registered with Keras' serialization under the package
`keras_cnns`, so it is saved inside a `.keras` file with its optimizer and
loaded again (after `import keras_cnns.train`) in safe mode. Being a function
of the optimizer's step counter, a schedule resumes exactly where a restored
optimizer left off.

References: cosine decay, I. Loshchilov, F. Hutter, "SGDR: Stochastic
Gradient Descent with Warm Restarts", ICLR 2017; linear warm-up, P. Goyal et
al., "Accurate, Large Minibatch SGD", arXiv:1706.02677; one-cycle, L. N.
Smith, N. Topin, "Super-Convergence", arXiv:1708.07120.
"""

import math

import keras
from keras import ops

# Step decay multiplies the learning rate by STEP_DECAY_FACTOR at these
# fractions of training (the classic CIFAR ResNet recipe).
STEP_DECAY_FRACTIONS = (0.5, 0.75)
STEP_DECAY_FACTOR = 0.1
# One-cycle without warm-up epochs rises for this fraction of training.
ONECYCLE_RISE_FRACTION = 0.3


def _linear_warmup(step, peak_learning_rate, warmup_steps):
    """`peak * (step + 1) / warmup_steps`: never 0, reaches the peak at the end."""
    return peak_learning_rate * (step + 1.0) / float(max(warmup_steps, 1))


def _cosine_between(start, end, progress):
    """Half a cosine from `start` (progress 0) to `end` (progress 1)."""
    return end + 0.5 * (start - end) * (1.0 + ops.cos(math.pi * progress))


def _progress(step, begin, length):
    """Share of `[begin, begin + length)` done at `step`, clipped to `[0, 1]`."""
    return ops.clip((step - float(begin)) / float(max(length, 1)), 0.0, 1.0)


@keras.saving.register_keras_serializable(package="keras_cnns")
class WarmupCosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak_learning_rate`, then cosine decay to `final_learning_rate`.

    Args:
        peak_learning_rate: Learning rate at the end of warm-up.
        total_steps: Steps of the whole run (warm-up included).
        warmup_steps: Steps of linear warm-up; 0 for none.
        final_learning_rate: Learning rate at `total_steps` and after.

    Example:

    ```python
    schedule = WarmupCosineDecay(0.1, total_steps=10_000, warmup_steps=500)
    optimizer = keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True)
    ```
    """

    def __init__(self, peak_learning_rate, total_steps, warmup_steps=0, final_learning_rate=0.0):
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.final_learning_rate = float(final_learning_rate)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        progress = _progress(step, self.warmup_steps, self.total_steps - self.warmup_steps)
        decayed = _cosine_between(self.peak_learning_rate, self.final_learning_rate, progress)
        if self.warmup_steps == 0:
            return decayed
        warmup = _linear_warmup(step, self.peak_learning_rate, self.warmup_steps)
        return ops.where(step < self.warmup_steps, warmup, decayed)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "final_learning_rate": self.final_learning_rate,
        }


@keras.saving.register_keras_serializable(package="keras_cnns")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """One-cycle: cosine rise to `max_learning_rate`, then cosine decay.

    Starts at `max_learning_rate / div_factor`, reaches the maximum after
    `rise_steps` and ends at `max_learning_rate / (div_factor *
    final_div_factor)`.

    Args:
        max_learning_rate: Peak learning rate.
        total_steps: Steps of the whole run.
        rise_steps: Steps of the rising phase.
        div_factor: Peak over initial learning rate.
        final_div_factor: Initial over final learning rate.
    """

    def __init__(self, max_learning_rate, total_steps, rise_steps, div_factor=25.0,
                 final_div_factor=1e4):
        self.max_learning_rate = float(max_learning_rate)
        self.total_steps = int(total_steps)
        self.rise_steps = int(rise_steps)
        self.div_factor = float(div_factor)
        self.final_div_factor = float(final_div_factor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        initial = self.max_learning_rate / self.div_factor
        final = initial / self.final_div_factor
        rising = _cosine_between(initial, self.max_learning_rate,
                                 _progress(step, 0, self.rise_steps))
        falling = _cosine_between(self.max_learning_rate, final,
                                  _progress(step, self.rise_steps, self.total_steps - self.rise_steps))
        return ops.where(step < self.rise_steps, rising, falling)

    def get_config(self):
        return {
            "max_learning_rate": self.max_learning_rate,
            "total_steps": self.total_steps,
            "rise_steps": self.rise_steps,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
        }


@keras.saving.register_keras_serializable(package="keras_cnns")
class WarmupStepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then the peak times `decay_factor` per boundary passed.

    With no boundaries this is a constant learning rate after warm-up.

    Args:
        peak_learning_rate: Learning rate after warm-up, before any boundary.
        boundaries: Steps at which the learning rate is multiplied by
            `decay_factor`.
        decay_factor: Multiplier per boundary.
        warmup_steps: Steps of linear warm-up; 0 for none.
    """

    def __init__(self, peak_learning_rate, boundaries=(), decay_factor=STEP_DECAY_FACTOR,
                 warmup_steps=0):
        self.peak_learning_rate = float(peak_learning_rate)
        self.boundaries = [int(boundary) for boundary in boundaries]
        self.decay_factor = float(decay_factor)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        learning_rate = ops.full((), self.peak_learning_rate, dtype="float32")
        for boundary in self.boundaries:
            learning_rate = ops.where(step >= boundary, learning_rate * self.decay_factor,
                                      learning_rate)
        if self.warmup_steps == 0:
            return learning_rate
        warmup = _linear_warmup(step, self.peak_learning_rate, self.warmup_steps)
        return ops.where(step < self.warmup_steps, warmup, learning_rate)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "boundaries": list(self.boundaries),
            "decay_factor": self.decay_factor,
            "warmup_steps": self.warmup_steps,
        }


def build_schedule(config, steps_per_epoch):
    """The learning-rate schedule a `TrainConfig` asks for.

    Args:
        config: A `TrainConfig` (uses `schedule`, `learning_rate`,
            `lr_batch_size`, `batch_size`, `epochs`, `warmup_epochs`).
        steps_per_epoch: Optimizer steps per epoch.

    Returns:
        A `LearningRateSchedule`.
    """
    total_steps = config.epochs * steps_per_epoch
    warmup_steps = int(round(config.warmup_epochs * steps_per_epoch))
    peak = peak_learning_rate(config)
    if config.schedule == "cosine":
        return WarmupCosineDecay(peak, total_steps, warmup_steps)
    if config.schedule == "onecycle":
        rise_steps = warmup_steps or int(round(ONECYCLE_RISE_FRACTION * total_steps))
        return OneCycle(peak, total_steps, rise_steps)
    if config.schedule == "step":
        boundaries = [int(round(fraction * total_steps)) for fraction in STEP_DECAY_FRACTIONS]
        return WarmupStepDecay(peak, boundaries, warmup_steps=warmup_steps)
    return WarmupStepDecay(peak, warmup_steps=warmup_steps)


def peak_learning_rate(config):
    """The peak learning rate a run uses: `learning_rate`, scaled linearly with the batch size when the config
    says at which batch size it was set (`lr_batch_size`).

    Linear scaling (Goyal et al., "Accurate, Large Minibatch SGD", 2017): a
    batch `k` times larger takes `k` times fewer steps per epoch, each `k`
    times longer. Weight decay then needs no change: its pull per epoch is
    steps x learning rate x decay, for the coupled L2 penalty of SGD and for
    AdamW's decoupled decay alike.
    """
    if config.lr_batch_size is None:
        return config.learning_rate
    return config.learning_rate * config.batch_size / config.lr_batch_size
