"""TensorFlow's oneDNN kernels on every x86 CPU, not only the newest.

TensorFlow's Linux packages carry two sets of CPU kernels for convolutions,
matrix products and batch norm: Eigen's and oneDNN's. Since TensorFlow 2.9
the oneDNN ones are on by default only on x86 CPUs with the instructions for
neural networks (AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX; TensorFlow RFC
400, "Enabling oneDNN operations for x86 CPUs", and the 2.9 release notes);
on others, such as an AVX2-only AMD EPYC (Zen 3), TensorFlow runs Eigen's.
There, the main job's network trained 2.1x faster per step with oneDNN
(BENCHMARKS.md, "oneDNN on a CPU without AVX-512").

The switch is the environment variable `TF_ENABLE_ONEDNN_OPTS`, read once
when TensorFlow is imported. `import keras_cnns` sets it to 1 on x86 when
TensorFlow is not imported yet and the variable is unset; a user who sets it
(to 0, say) keeps their choice. `onednn_advice` gives the training log a line
where it came too late.
"""

import os
import platform
import sys

ENV_VAR = "TF_ENABLE_ONEDNN_OPTS"


def is_x86():
    """True on an x86-64 machine, where TensorFlow's packages carry oneDNN's x86 kernels."""
    return platform.machine().lower() in ("x86_64", "amd64")


def request_onednn(environ=os.environ, modules=sys.modules):
    """Sets `TF_ENABLE_ONEDNN_OPTS=1` where TensorFlow would leave oneDNN to its own choice.

    Only on x86, only before TensorFlow is imported (later it is not read
    again), and never over a value the user set.

    Returns:
        True if it set the variable.
    """
    if ENV_VAR in environ or "tensorflow" in modules or not is_x86():
        return False
    environ[ENV_VAR] = "1"
    return True


def onednn_enabled():
    """Whether this process's TensorFlow runs oneDNN's kernels; None where it cannot tell."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    try:
        return bool(_pywrap_util_port.IsMklEnabled())
    except Exception:  # A private function: any change to it only loses the advice.
        return None


def onednn_advice():
    """A line for the training log where TensorFlow runs Eigen's kernels on x86 and the user did not ask so.

    None where oneDNN is on, where the user set `TF_ENABLE_ONEDNN_OPTS`
    themselves to something other than 1, off x86, or where it cannot tell.
    """
    if not is_x86() or os.environ.get(ENV_VAR, "1") != "1" or onednn_enabled() is not False:
        return None
    return (
        "TensorFlow's oneDNN kernels are off: TensorFlow was imported before keras_cnns, and it turns them "
        "on by itself only on CPUs with AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX. With them, a training step "
        "was 2.1x faster on an AVX2-only CPU (BENCHMARKS.md). Import keras_cnns before keras or "
        f"tensorflow, or start Python with {ENV_VAR}=1."
    )
