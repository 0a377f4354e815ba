"""Training: configs and recipes, schedules, a resumable `train`, and `evaluate`.

```python
from keras_cnns.train import default_config, evaluate, train

config = default_config("resnet20", "fashion_mnist", out_dir="runs/r20")
result = train(config)          # rerun after a crash: resumes
print(result.test_accuracy, evaluate("runs/r20")["test_accuracy"])
```

Modules:

* `config`: `TrainConfig` and `default_config`.
* `recipes`: named, measured recipes (`recipe_config("fashion_mnist_quick")`).
* `schedules`: serializable learning-rate schedules.
* `optimization`: loss with label smoothing, optimizers, weight decay.
* `atomic`: atomic file writes.
* `run_dir`: the run directory's layout and history file.
* `callbacks`: timing, divergence guard, checkpoints and backups.
* `distributed`: `ProcessCluster`, one run shared by several processes (JAX).
* `metrics` and `plots`: test metrics and figures.
* `trainer`: `train`, `evaluate`, `RunResult`.
* `tta`: test-time augmentation, a model wrapper (`with_test_time_augmentation`).
* `precision`: the dtype policy a run trains in (bfloat16 on CPUs that have it).
* `fused_batch_norm`: batch norm in TensorFlow's fused kernel while a model
  trains (`TrainConfig.fused_batch_norm`).
* `whitening` and `initialization`: a whitened first convolution, identity
  (Dirac) filters and the batch-norm momentum, set on a fresh network.

Importing this package registers the custom schedules and loss with Keras, so
`keras.saving.load_model` can read the `.keras` files it writes.
"""

from keras_cnns._lazy import lazy_exports

_EXPORTS = {
    "atomic": ("atomic_path", "save_model", "write_json"),
    "callbacks": ("DivergenceGuard", "EpochStats", "Lookahead", "RunCheckpoint", "WeightAveraging"),
    "config": ("FAMILY_RECIPES", "GENERIC_RECIPE", "OPTIMIZERS", "SCHEDULES", "TrainConfig", "default_config"),
    "distributed": ("ProcessCluster",),
    "errors": ("RunConfigMismatchError", "TrainingDiverged"),
    "metrics": ("classification_metrics",),
    "optimization": (
        "NormBiasScaledSGD", "SparseCategoricalCrossentropyWithSmoothing", "add_kernel_l2", "build_loss",
        "build_optimizer",
    ),
    "recipes": ("RECIPES", "Recipe", "list_recipes", "recipe_config"),
    "run_dir": ("RunLayout", "read_history"),
    "schedules": ("OneCycle", "WarmupCosineDecay", "WarmupStepDecay", "build_schedule"),
    "trainer": (
        "RunResult", "build_compiled_model", "build_model", "compile_model", "evaluate", "load_best_model",
        "train",
    ),
    "tta": ("TTA_VIEWS", "with_test_time_augmentation"),
    "precision": ("float32_model", "resolve_dtype_policy"),
    "initialization": ("dirac_initialize", "set_batch_norm_momentum"),
    "whitening": ("whiten_first_convolution",),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
