"""The per-epoch backup of a run: every model and optimizer variable, in order, in one `.npz` file.

A backup is only ever read back into the same network, built by the same
code from the same config (a resumed run), so it stores the variables as a
list, with their paths and shapes to check against, rather than Keras'
object tree. `model.save_weights` walks that tree at every save, which took
several times longer (BENCHMARKS.md, "Inner loops"). Runs written before this
module kept `.weights.h5` backups; `restore` still reads them.
"""

import zipfile

import keras
import numpy as np

from keras_cnns.train import atomic

SUFFIX = ".variables.npz"


def variables_of(model):
    """The model's variables, then its optimizer's (once built): the order a backup keeps."""
    optimizer = getattr(model, "optimizer", None)
    return list(model.variables) + (list(optimizer.variables) if optimizer is not None and optimizer.built else [])


def save(model, path):
    """Writes every variable of `model` and its optimizer to `path` (`.npz`) atomically."""
    variables = variables_of(model)
    arrays = {f"v{index:05d}": keras.ops.convert_to_numpy(variable) for index, variable in enumerate(variables)}
    with atomic.atomic_path(path) as temporary:
        with open(temporary, "wb") as file:
            np.savez(file, paths=np.array([variable.path for variable in variables]), **arrays)


def restore(model, path):
    """Assigns a backup's values to `model` and its optimizer (built), checking that the two match.

    Raises:
        ValueError: If the backup holds other variables than the model (another network or optimizer),
            naming the first difference.
    """
    if path.endswith(".weights.h5"):  # A backup written before `.npz` backups.
        model.load_weights(path)
        return
    variables = variables_of(model)
    try:
        with np.load(path, allow_pickle=False) as backup:
            paths = [str(saved) for saved in backup["paths"]]
            arrays = [backup[f"v{index:05d}"] for index in range(len(paths))]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"The backup {path} cannot be read ({type(error).__name__}: {error}): it was damaged or replaced. "
            "Pass overwrite=True (--overwrite) to start the run again."
        ) from None
    difference = _first_difference(variables, paths, arrays)
    if difference:
        raise ValueError(
            f"The backup {path} does not fit this network and optimizer ({difference}): it was written by "
            "another configuration. Rerun with the configuration that wrote it, or pass overwrite=True "
            "(--overwrite) to start the run again."
        )
    for variable, array in zip(variables, arrays):
        variable.assign(array)


def _first_difference(variables, paths, arrays):
    if len(variables) != len(paths):
        return f"{len(paths)} variables saved, {len(variables)} in the model and optimizer"
    # Shapes, not paths: a layer named by Keras' counter (`dense_3`) may be numbered otherwise in another process.
    for variable, path, array in zip(variables, paths, arrays):
        if tuple(variable.shape) != array.shape:
            return f"saved {path} of shape {array.shape}, found {variable.path} of shape {tuple(variable.shape)}"
    return None
