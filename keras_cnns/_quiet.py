"""Keeping TensorFlow's, CUDA's and LiteRT's start-up log lines out of the output.

TensorFlow and LiteRT write INFO lines from C++ straight to the process's
standard error (file descriptor 2) when they load, before any Python setting
such as `TF_CPP_MIN_LOG_LEVEL` can apply to all of them (absl's "All log
messages before absl::InitializeLog() is called are written to STDERR",
oneDNN's and CUDA's notices, "Created TensorFlow Lite XNNPACK delegate").
`filtered_stderr` captures what is written to descriptor 2 while a block
runs and writes back every line but those known lines, so a real error
still shows.
"""

import contextlib
import os
import re
import sys
import tempfile

# Lines of library chatter: absl's preamble, and I/W-level (and cuInit's E-level) log records of the
# files that announce oneDNN, CUDA and the CPU's instructions; LiteRT's delegate notice.
NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} [\d:. ]+\d+ (port|cudart_stub|cuda_platform|cuda_executor|cpu_feature_guard|cuda_dnn|cuda_fft"
    r"|cuda_blas|cuda_diagnostics|computation_placer)\.cc:\d+\].*"
    r"|To enable the following instructions: .* in other operations, rebuild TensorFlow with the appropriate "
    r"compiler flags\."
    r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\."
    r"|fully_quantize: \d+, inference_type: \d+, input_inference_type: \w+, output_inference_type: \w+"
    r"|All log messages before absl::InitializeLog\(\) is called are written to STDERR)$"
)


@contextlib.contextmanager
def filtered_stderr(noise=NOISE):
    """Runs a block with descriptor 2 captured; writes back the lines that are not `noise`."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # No real descriptor 2 (an embedding application): nothing to filter.
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode("utf-8", "replace").splitlines()
                    if line.strip() and not noise.match(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()


def import_keras_quietly():
    """Imports Keras (and with it TensorFlow, on that backend) without its start-up log lines."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with filtered_stderr():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()  # Initializes the devices now: CUDA's notice is filtered too.
    return keras
