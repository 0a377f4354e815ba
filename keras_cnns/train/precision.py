"""Which dtype policy a run trains in: `TrainConfig.mixed_precision`.

| `mixed_precision` | policy |
| --- | --- |
| `"off"` | `float32` |
| `"on"` | `mixed_float16` (GPUs) |
| `"bfloat16"` | `mixed_bfloat16`: for GPUs, TPUs and CPUs with bfloat16 instructions (AVX512_BF16 or AMX) |
| `"auto"` | `mixed_float16` where a GPU is present; `mixed_bfloat16` on the TensorFlow backend on a CPU with bfloat16 instructions; else `float32` |

Why `"auto"` picks bfloat16 on such CPUs: on the 2-core AMD EPYC (Zen 4,
AVX512_BF16) of BENCHMARKS.md ("Time to accuracy", "bfloat16 on this CPU"),
ResNet-20 at batch 256 trained 10-19% more images per second in
`mixed_bfloat16` (two days), while the main job's small VGG-11 took the
same time per image (225 against 223 microseconds, within 1%); the test
accuracy was the same within a seed's spread. Only the TensorFlow
backend was measured (its oneDNN kernels use the instructions), so the
other backends keep float32 on a CPU.

Weights stay float32 under both mixed policies (Keras keeps the variables in
float32 and computes in the lower precision), so a run can resume on a
machine that resolves `"auto"` differently, and exported files are float32
(`keras_cnns.export` rebuilds the network in float32).
"""

import keras

# Flags of /proc/cpuinfo that mean the CPU computes in bfloat16 natively.
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = "/proc/cpuinfo"


def resolve_dtype_policy(mixed_precision):
    """The Keras dtype policy name of a `mixed_precision` setting on this machine (module docstring)."""
    return explain_dtype_policy(mixed_precision)[0]


def explain_dtype_policy(mixed_precision):
    """`(policy name, why)` of a `mixed_precision` setting on this machine, for the training log."""
    if mixed_precision in ("bfloat16", "on", "off"):
        policy = {"bfloat16": "mixed_bfloat16", "on": "mixed_float16", "off": "float32"}[mixed_precision]
        return policy, f"mixed_precision={mixed_precision!r}"
    if gpu_available():
        return "mixed_float16", "mixed_precision='auto' on a GPU"
    if keras.backend.backend() != "tensorflow":
        return "float32", f"mixed_precision='auto' on a CPU with the {keras.backend.backend()} backend"
    has_bfloat16 = cpu_has_bfloat16()
    if has_bfloat16:
        return "mixed_bfloat16", "mixed_precision='auto' on a CPU with bfloat16 instructions"
    known = "without bfloat16 instructions" if has_bfloat16 is False else "whose instructions are unknown"
    return "float32", f"mixed_precision='auto' on a CPU {known}"


def check_precision_available(mixed_precision):
    """Raises when `"bfloat16"` is asked for on a CPU-only machine whose CPU lacks bfloat16 instructions.

    Emulated bfloat16 is several times slower than float32, so such a run
    would only waste time. Where the CPU's flags cannot be read (not Linux)
    the request is trusted.
    """
    if mixed_precision != "bfloat16" or gpu_available() or cpu_has_bfloat16() is not False:
        return
    raise ValueError(
        "mixed_precision='bfloat16' was asked for, but this machine has no GPU and its CPU has none of "
        f"the bfloat16 instructions {list(BFLOAT16_CPU_FLAGS)} (read from {CPUINFO}), so bfloat16 would "
        "be emulated and slower than float32. Pass mixed_precision='auto' (bfloat16 only where it is "
        "native) or 'off'."
    )


def cpu_has_bfloat16(cpuinfo=CPUINFO):
    """True or False from the CPU's flags in `cpuinfo`; None where the file cannot be read."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as file:
            text = file.read()
    except OSError:
        return None
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return any(flag in flags for flag in BFLOAT16_CPU_FLAGS)


def gpu_available():
    """Whether the current Keras backend sees a GPU."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    return False


def is_mixed(policy_name):
    """Whether a dtype policy name computes in a lower precision than its float32 variables."""
    return policy_name.startswith("mixed_")


def float32_model(model):
    """`model` itself if it computes in float32; else a float32 copy of it with the same weights.

    A network trained under a mixed policy computes in float16 or bfloat16,
    which TFLite cannot convert and which rounds its answers; its weights
    are float32. Evaluation, export and inspection use this copy, so the
    test accuracy a run reports is the accuracy of the files it exports.

    Raises:
        ValueError: If a mixed-precision model cannot be rebuilt from its
            config (e.g. a subclassed model without `get_config`).
    """
    if not any(is_mixed(layer.dtype_policy.name) for layer in _layers(model)):
        return model
    try:
        copy = model.__class__.from_config(_float32_config(model.get_config()))
        copy.set_weights(model.get_weights())
    except (NotImplementedError, TypeError, ValueError) as error:
        raise ValueError(
            f"{model.name} computes in {model.dtype_policy.name} and could not be rebuilt in float32 from its "
            f"config ({type(error).__name__}: {error}). Build it again under keras.config.set_dtype_policy("
            "'float32') and copy the weights over (model.get_weights()), then pass that model."
        ) from error
    return copy


def _layers(model):
    """`model` and every layer in it, nested models' layers included."""
    yield model
    for layer in getattr(model, "layers", ()):
        yield from _layers(layer)


def _float32_config(config):
    """A layer or model config with every mixed dtype policy in it replaced by float32."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and is_mixed(config.get("config", {}).get("name", "")):
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {key: _float32_config(value) for key, value in config.items()}
    if isinstance(config, list):
        return [_float32_config(item) for item in config]
    return config

