"""What every benchmark script shares: the machine's description and the results folder."""

import datetime
import os
import platform
import sys

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def machine_description():
    """CPU model, core count, OS and library versions, for a results file."""
    from keras_cnns.export.card import library_versions

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            cpu = next(line.split(":", 1)[1].strip() for line in file if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, **library_versions()}


def run_facts():
    """The command, date and machine of this benchmark run."""
    return {"command": " ".join([os.path.basename(sys.executable), *sys.argv]),
            "date": datetime.date.today().isoformat(), "machine": machine_description()}
