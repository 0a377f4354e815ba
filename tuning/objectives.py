"""Objectives that trade accuracy against what a phone pays: TFLite latency or size.

MnasNet's reward (Tan et al. 2019, "MnasNet: Platform-Aware Neural
Architecture Search for Mobile", CVPR 2019, eq. 2):

    score = accuracy * (cost / target) ** w,   w = alpha if cost <= target else beta

With `alpha = beta = -0.07` (the paper's soft constraint) a model twice as
slow as another must be about 5% more accurate to score the same; with
`alpha = 0, beta = -1` (the paper's hard constraint) models within the
target are ranked by accuracy alone and those beyond it are penalized
sharply. The cost is measured on the exported TFLite model: its latency in
milliseconds per image (`keras_cnns.export.measure_tflite_latency`) or its
file size in kilobytes, for the conversion `keras_cnns.export.convert_to_tflite`
makes.

Example:

```python
constraint = ResourceConstraint("latency_ms", target=2.0)
constraint.score(0.92, 1.5)   # 0.92 * (1.5 / 2.0) ** -0.07 = 0.9386
tuner.search(x, y, validation_data=(xv, yv), callbacks=[ResourceScore(constraint)])
```
"""

import dataclasses

import keras
import keras_tuner

from tuning.config import MNASNET_WEIGHT

RESOURCES = ("latency_ms", "size_kb")
SCORE = "score"
# MnasNet's soft constraint (section 3).


@dataclasses.dataclass(frozen=True)
class ResourceConstraint:
    """A target for the exported model's latency or size, and how hard it binds.

    Attributes:
        resource: `"latency_ms"` (milliseconds per image in the LiteRT
            interpreter) or `"size_kb"` (size of the `.tflite` file).
        target: The target, in the resource's unit.
        alpha: Exponent when the cost is within the target (MnasNet: -0.07
            soft; 0 hard).
        beta: Exponent when the cost exceeds the target (MnasNet: -0.07
            soft; -1 hard).
        quantization: The conversion measured (`"float32"`, `"float16"`,
            `"dynamic"` or `"int8"`), as for `convert_to_tflite`.
        num_threads: Interpreter threads for latency.
        runs: Timed interpreter calls for latency.
    """

    resource: str
    target: float
    alpha: float = MNASNET_WEIGHT
    beta: float = MNASNET_WEIGHT
    quantization: str = "float32"
    num_threads: int = 1
    runs: int = 50

    def __post_init__(self):
        if self.resource not in RESOURCES:
            raise ValueError(
                f"resource must be one of {list(RESOURCES)}; received {self.resource!r}."
            )
        if isinstance(self.target, bool) or not isinstance(self.target, (int, float)) or self.target <= 0:
            raise ValueError(
                f"target must be a positive number ({self.resource}); received {self.target!r}. "
                "Pass for example 2.0 (ms per image) or 500 (kB)."
            )
        for name in ("alpha", "beta"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value > 0:
                raise ValueError(
                    f"{name} must be a number <= 0 (a cost above or below the target must not raise "
                    f"the score); received {value!r}. MnasNet uses -0.07 (soft) or 0 and -1 (hard)."
                )

    def factor(self, cost):
        """`(cost / target) ** w`, the multiplier of the accuracy."""
        if cost <= 0:
            raise ValueError(f"A {self.resource} must be positive; received {cost!r}.")
        weight = self.alpha if cost <= self.target else self.beta
        return (cost / self.target) ** weight

    def score(self, accuracy, cost):
        """MnasNet's reward: `accuracy * factor(cost)`."""
        return accuracy * self.factor(cost)

    def measure(self, model, representative_data=None):
        """The resource of `model` once converted to TFLite.

        Args:
            model: A `keras.Model` (its weights do not change the latency or
                size of a float conversion; int8 calibrates on
                `representative_data`).
            representative_data: Normalized images, for `"int8"` only.

        Returns:
            Milliseconds per image or kilobytes, as `resource` says.
        """
        from keras_cnns.export import convert_to_tflite, measure_tflite_latency

        content = convert_to_tflite(model, self.quantization, representative_data=representative_data)
        if self.resource == "size_kb":
            return len(content) / 1024
        return measure_tflite_latency(content, num_threads=self.num_threads, runs=self.runs)

    def to_dict(self):
        return dataclasses.asdict(self)


def search_objective(constraint=None):
    """The Keras Tuner objective of a search: `val_accuracy`, or `score` under a constraint."""
    if constraint is None:
        return keras_tuner.Objective("val_accuracy", direction="max")
    return keras_tuner.Objective(SCORE, direction="max")


class ResourceScore(keras.callbacks.Callback):
    """Adds the measured resource and MnasNet's `score` to every epoch's logs.

    The model is converted and measured once, when training starts (the
    architecture alone sets a float model's latency and size); each epoch
    then logs `latency_ms` or `size_kb` and `score = monitor * factor`, so
    Keras Tuner keeps the checkpoint of the best-scoring epoch.

    Args:
        constraint: A `ResourceConstraint`.
        monitor: The accuracy in the logs to weigh.
        representative_data: Normalized calibration images, for int8.
    """

    def __init__(self, constraint, monitor="val_accuracy", representative_data=None):
        super().__init__()
        self.constraint = constraint
        self.monitor = monitor
        self.representative_data = representative_data
        self.cost = None

    def on_train_begin(self, logs=None):
        self.cost = self.constraint.measure(self.model, self.representative_data)

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor not in logs:
            raise KeyError(
                f"ResourceScore weighs {self.monitor!r}, but the epoch logs hold only {sorted(logs)}. "
                "Pass validation_data to the search."
            )
        logs[self.constraint.resource] = self.cost
        logs[SCORE] = self.constraint.score(float(logs[self.monitor]), self.cost)

    def __deepcopy__(self, memo):
        # Keras Tuner copies callbacks for every trial; the calibration data is shared.
        return ResourceScore(self.constraint, self.monitor, self.representative_data)
