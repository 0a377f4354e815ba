"""The classes this package saves into `.keras` files, registered with Keras; and loading such files.

Importing this module registers, under the package name `keras_cnns`, every
custom class a `.keras` file written by this package can hold: the
layers of `keras_cnns.layers` (the parameter-free ResNet shortcut), the
learning-rate schedules, the label-smoothing loss and the SGD with faster
normalization biases. `import keras_cnns` arranges for it
to be imported as soon as Keras is, so `keras.saving.load_model` reads those
files in a fresh process after `import keras_cnns`, or after importing this
module alone.
"""

import os
import zipfile

import keras

# Modules, not names: this module runs while Keras finishes importing, possibly in the middle of one of
# these modules' own imports, and must not ask a half-imported module for a name.
import keras_cnns.layers  # noqa: F401  (ZeroPadShortcut)
import keras_cnns.train.optimization  # noqa: F401  (the label-smoothing loss, NormBiasScaledSGD)
import keras_cnns.train.schedules  # noqa: F401  (learning-rate schedules)


def load_model(path, *, compile=False):
    """Loads a `.keras` file in Keras' safe mode (no arbitrary code is run).

    Args:
        path: A `.keras` file.
        compile: Also restore the optimizer and loss (default: inference only).

    Returns:
        The `keras.Model`.

    Raises:
        FileNotFoundError: If there is no file at `path`.
        ValueError: If the file is not a complete `.keras` archive (damaged,
            truncated), saying what to do.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No model file at {path}. Train a run first (keras-cnns train) or pass the path of "
            "a .keras file."
        )
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is damaged: it is not a complete .keras archive (truncated, or another kind of file renamed). "
            "In a run directory the backup/ folder holds the last completed epoch: run the training command "
            "again to resume from it, or train again."
        )
    try:
        return keras.saving.load_model(path, compile=compile)
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ValueError(
            f"{path} is damaged ({type(error).__name__}: {error}). In a run directory the backup/ folder holds "
            "the last completed epoch: run the training command again to resume from it, or train again."
        ) from None
