"""What every benchmark script shares: the machine's description and the results folder."""

import datetime
import os
import platform
import sys

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


# The CPU flags that decide how fast a training step is here: vector width, and the instructions that
# make TensorFlow pick bfloat16 (keras_cnns.train.precision) and oneDNN by itself (keras_cnns._onednn).
SPEED_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16")


def machine_description():
    """CPU model and its speed-relevant flags, core count, OS and library versions, for a results file."""
    from keras_cnns.export.card import library_versions

    cpu, flags = platform.processor() or platform.machine(), None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            lines = file.read().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
        present = set(next(line.split(":", 1)[1] for line in lines if line.startswith("flags")).split())
        flags = [flag for flag in SPEED_FLAGS if flag in present]
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cpu_flags": flags, "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
            **library_versions()}


def run_facts():
    """The command, date and machine of this benchmark run."""
    return {"command": " ".join([os.path.basename(sys.executable), *sys.argv]),
            "date": datetime.date.today().isoformat(), "machine": machine_description()}
