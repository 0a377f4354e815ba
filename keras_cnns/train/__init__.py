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

from keras_cnns.train.atomic import atomic_path, save_model, write_json
from keras_cnns.train.callbacks import DivergenceGuard, EpochStats, RunCheckpoint
from keras_cnns.train.config import (
    FAMILY_RECIPES,
    GENERIC_RECIPE,
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
    default_config,
)
from keras_cnns.train.distributed import ProcessCluster
from keras_cnns.train.errors import RunConfigMismatchError, TrainingDiverged
from keras_cnns.train.metrics import classification_metrics
from keras_cnns.train.recipes import RECIPES, Recipe, list_recipes, recipe_config
from keras_cnns.train.optimization import (
    SparseCategoricalCrossentropyWithSmoothing,
    add_kernel_l2,
    build_loss,
    build_optimizer,
)
from keras_cnns.train.run_dir import RunLayout, read_history
from keras_cnns.train.schedules import (
    OneCycle,
    WarmupCosineDecay,
    WarmupStepDecay,
    build_schedule,
)
from keras_cnns.train.trainer import (
    RunResult,
    build_compiled_model,
    build_model,
    compile_model,
    evaluate,
    load_best_model,
    train,
)

__all__ = [
    "FAMILY_RECIPES",
    "GENERIC_RECIPE",
    "OPTIMIZERS",
    "RECIPES",
    "SCHEDULES",
    "DivergenceGuard",
    "EpochStats",
    "OneCycle",
    "ProcessCluster",
    "RunCheckpoint",
    "RunConfigMismatchError",
    "RunLayout",
    "Recipe",
    "RunResult",
    "SparseCategoricalCrossentropyWithSmoothing",
    "TrainConfig",
    "TrainingDiverged",
    "WarmupCosineDecay",
    "WarmupStepDecay",
    "add_kernel_l2",
    "atomic_path",
    "build_compiled_model",
    "build_model",
    "build_loss",
    "build_optimizer",
    "build_schedule",
    "classification_metrics",
    "compile_model",
    "default_config",
    "evaluate",
    "list_recipes",
    "load_best_model",
    "read_history",
    "recipe_config",
    "save_model",
    "train",
    "write_json",
]
