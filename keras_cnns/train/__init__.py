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

Importing this package registers the custom schedules and loss with Keras, so
`keras.saving.load_model` can read the `.keras` files it writes.
"""

from keras_cnns._lazy import lazy_exports

_EXPORTS = {
    "DivergenceGuard": "callbacks",
    "EpochStats": "callbacks",
    "FAMILY_RECIPES": "config",
    "GENERIC_RECIPE": "config",
    "OPTIMIZERS": "config",
    "OneCycle": "schedules",
    "ProcessCluster": "distributed",
    "RECIPES": "recipes",
    "Recipe": "recipes",
    "RunCheckpoint": "callbacks",
    "RunConfigMismatchError": "errors",
    "RunLayout": "run_dir",
    "RunResult": "trainer",
    "SCHEDULES": "config",
    "SparseCategoricalCrossentropyWithSmoothing": "optimization",
    "TrainConfig": "config",
    "TrainingDiverged": "errors",
    "WarmupCosineDecay": "schedules",
    "WarmupStepDecay": "schedules",
    "add_kernel_l2": "optimization",
    "atomic_path": "atomic",
    "build_compiled_model": "trainer",
    "build_loss": "optimization",
    "build_model": "trainer",
    "build_optimizer": "optimization",
    "build_schedule": "schedules",
    "classification_metrics": "metrics",
    "compile_model": "trainer",
    "default_config": "config",
    "evaluate": "trainer",
    "list_recipes": "recipes",
    "load_best_model": "trainer",
    "read_history": "run_dir",
    "recipe_config": "recipes",
    "save_model": "atomic",
    "train": "trainer",
    "write_json": "atomic",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
