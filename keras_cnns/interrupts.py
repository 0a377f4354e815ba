"""Ctrl-C that stops a run every time, not only when it lands in Python code.

Python turns SIGINT into a KeyboardInterrupt wherever the main thread is.
When that is inside a garbage-collection callback (JAX registers one when
Keras imports it), the interpreter prints "Exception ignored" and training
goes on. `stop_on_ctrl_c` installs a handler that also remembers the
request, and `StopOnRequest`, a Keras callback that `fit_passes` adds to
every run, raises the KeyboardInterrupt at the next batch boundary.

    with stop_on_ctrl_c():
        train(config)
"""

import contextlib
import functools
import signal
import sys
import threading

_requested = threading.Event()


def _handle_sigint(signum, frame):
    _requested.set()
    raise KeyboardInterrupt


@contextlib.contextmanager
def stop_on_ctrl_c():
    """Remember a Ctrl-C while the block runs, and let it end the block as a KeyboardInterrupt.

    The handler is installed in the main thread only (elsewhere signals do
    not arrive). A Ctrl-C that lands inside a library can also come out as
    another error: TensorFlow tracing a function catches the
    KeyboardInterrupt and fails on what it left half-built (a TypeError
    from a data-pipeline layer was seen). Once a Ctrl-C has come, any error
    leaving the block is re-raised as a KeyboardInterrupt, with the error as
    its cause, so the run stops as the user asked.
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, _handle_sigint) if in_main_thread else None
    previous_hook = sys.unraisablehook
    sys.unraisablehook = functools.partial(_quiet_about_remembered_ctrl_c, previous_hook)
    try:
        yield
    except Exception as error:
        if _requested.is_set():
            raise KeyboardInterrupt from error
        raise
    finally:
        sys.unraisablehook = previous_hook
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)
        _requested.clear()


def _quiet_about_remembered_ctrl_c(previous_hook, unraisable):
    """`sys.unraisablehook` that drops a KeyboardInterrupt a callback swallowed once it is remembered.

    Python prints "Exception ignored in: ..." and a traceback for it (JAX's
    garbage-collection callback, for one); the request is remembered and
    `StopOnRequest` raises it at the next batch, so the traceback is noise.
    Everything else goes to the hook that was there before.
    """
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and _requested.is_set():
        return
    previous_hook(unraisable)


def raise_if_requested():
    """Raise KeyboardInterrupt if a Ctrl-C came and was swallowed on its way."""
    if _requested.is_set():
        raise KeyboardInterrupt


def stop_on_request_callback():
    """A Keras callback that calls `raise_if_requested` after every batch and epoch."""
    import keras  # Here, so that importing this module stays light.

    class StopOnRequest(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise_if_requested()

        def on_test_batch_end(self, batch, logs=None):
            raise_if_requested()

        def on_epoch_end(self, epoch, logs=None):
            raise_if_requested()

    return StopOnRequest()
