"""A trained network and what is known about its inputs: from a run directory or a `.keras` file.

`load_trained` is how the inspection tools and `keras_cnns.transfer` open a
trained network. A run directory written by `keras_cnns.train.train` gives the
model (`best.keras`) and its `metrics.json`: the input normalization, the
class names and the image shape. A bare `.keras` file gives the model, and
the `metrics.json` and `config.json` next to it when they are there.
"""

import dataclasses

from keras_cnns.train.run_dir import locate_run
from keras_cnns.train.trainer import load_best_model


@dataclasses.dataclass(frozen=True)
class TrainedModel:
    """A loaded network and the facts about its inputs.

    Attributes:
        model: The `keras.Model` (loaded in safe mode, not compiled).
        model_path: The `.keras` file it came from.
        run_dir: The run directory, or None for a file without one.
        normalization: `{"mean": [...], "std": [...]}` its inputs were
            normalized with (see `keras_cnns.data.normalize`), or None when
            unknown.
        class_names: Class names by label, or None when unknown.
        config: The run's `config.json` as a dict, or None.
    """

    model: object
    model_path: str
    run_dir: object
    normalization: object
    class_names: object
    config: object


def load_trained(path):
    """Loads a trained network from a run directory or a `.keras` file.

    Args:
        path: A run directory (with `best.keras`) or the path of a `.keras`
            file; `metrics.json` and `config.json` are read from the same
            directory when present.

    Returns:
        A `TrainedModel`.

    Raises:
        FileNotFoundError: If the path does not exist, or a directory holds
            no `best.keras`.
        ValueError: If a file is not a `.keras` file.

    Example:

    ```python
    trained = load_trained("runs/resnet20-fashion_mnist")
    trained.model.summary()
    ```
    """
    saved = locate_run(path)
    return TrainedModel(
        model=load_best_model(saved.model_path),
        model_path=saved.model_path,
        run_dir=saved.run_dir if saved.metrics else None,
        normalization=saved.metrics.get("normalization"),
        class_names=saved.metrics.get("class_names"),
        config=saved.config,
    )
