"""Memory of a process that trains many models: measuring it, and one leak plugged.

TensorFlow leaks every traced training step: Keras' optimizer sums the
gradients with `ReplicaContext.all_reduce`, whose `tf.custom_gradient`
registers a gradient function under a new name (`CustomGradient-<uid>`) in
TensorFlow's global gradient registry each time a train step is traced, and
never removes it. The function's closure holds the whole traced graph, so
`keras.backend.clear_session()` frees nothing and memory grows with every
`fit` (a few MB per trial for a small CNN; tensorflow/tensorflow#61791,
keras-team/tf-keras#286). `released_custom_gradients` drops the entries a
block of code added, once it has finished: they are only looked up while a
gradient is being traced, so the finished graphs never need them again.
"""

import contextlib
import logging
import os

import keras

logger = logging.getLogger(__name__)
CUSTOM_GRADIENT_PREFIX = "CustomGradient-"


def _gradient_registry():
    """TensorFlow's gradient registry dict, or None (other backends, other TF internals)."""
    if keras.backend.backend() != "tensorflow":
        return None
    try:
        from tensorflow.python.framework import ops

        registry = ops._gradient_registry._registry
    except (ImportError, AttributeError):
        return None
    return registry if isinstance(registry, dict) else None


@contextlib.contextmanager
def released_custom_gradients():
    """Removes the custom gradients registered inside the block when it ends.

    Example:

    ```python
    with released_custom_gradients():
        model.fit(dataset, epochs=3)
    ```
    """
    registry = _gradient_registry()
    before = set(registry) if registry is not None else None
    try:
        yield
    finally:
        if registry is not None:
            added = [name for name in set(registry) - before if name.startswith(CUSTOM_GRADIENT_PREFIX)]
            for name in added:
                registry.pop(name, None)
            logger.debug("Released %d custom gradient functions.", len(added))


def resident_memory_mb():
    """Resident memory of this process in MB (None where it cannot be read)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        pass
    try:
        with open("/proc/self/statm") as file:
            return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return None
