"""Start-up: how long the command line takes to answer, and what it imports.

* `keras-cnns --help` and every command's `--help`;
* `keras-cnns predict saved_models/NAME photo.jpg` (one product photo made
  from a Fashion-MNIST test image): the whole process, start to answer, on
  the LiteRT path that imports neither TensorFlow nor Keras;
* `python -X importtime` of that predict: the slowest imports, and whether
  TensorFlow or Keras is among them.

Each command runs `--repeats` times (default 7) in a fresh process; the
median and the slowest are reported.

    .venv/bin/python benchmarks/bench_startup.py

Results: `benchmarks/results/startup.json`.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

import common  # noqa: E402  (benchmarks/common.py)

from keras_cnns.cli import COMMAND_MODULES, build_parser  # noqa: E402
from keras_cnns.data import sources  # noqa: E402
from keras_cnns.inference.photos import product_photo  # noqa: E402
from keras_cnns.train.atomic import write_json  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERAS_CNNS = os.path.join(os.path.dirname(sys.executable), "keras-cnns")


def timed(command, repeats):
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{command} failed: {done.stderr[-2000:]}")
    return {"command": " ".join(command[1:] if command[0] == sys.executable else command),
            "median_s": statistics.median(seconds), "slowest_s": max(seconds), "runs": repeats,
            "stderr_lines": len([line for line in done.stderr.splitlines() if line.strip()])}


def slowest_imports(command, count=8):
    done = subprocess.run([sys.executable, "-X", "importtime", *command], capture_output=True, text=True)
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = (part.strip() for part in line.split("|"))
            if cumulative.isdigit():
                rows.append((int(cumulative), name))
    names = {name.strip() for _, name in rows}
    return {"slowest": [{"module": name.strip(), "cumulative_ms": micros / 1000} for micros, name in
                        sorted(rows, reverse=True)[:count]],
            "imports_tensorflow": "tensorflow" in names, "imports_keras": "keras" in names}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    commands = sorted(build_parser()._subparsers._group_actions[0].choices)
    x_test, _ = sources.load_fashion_mnist().test
    with tempfile.TemporaryDirectory() as folder:
        photo = os.path.join(folder, "boot.jpg")
        Image.fromarray(product_photo(x_test[0], np.random.default_rng(0))).save(photo)
        results = {**common.run_facts(), "command_modules": list(COMMAND_MODULES),
                   "help": [timed([KERAS_CNNS, "--help"], args.repeats)]
                   + [timed([KERAS_CNNS, name, "--help"], args.repeats) for name in commands],
                   "predict": [], "importtime": {}}
        for name in sorted(os.listdir(os.path.join(ROOT, "saved_models"))):
            model = os.path.join(ROOT, "saved_models", name)
            if os.path.isfile(os.path.join(model, "model_card.json")):
                results["predict"].append(timed([KERAS_CNNS, "predict", model, photo], args.repeats))
                results["importtime"][name] = slowest_imports(["-m", "keras_cnns", "predict", model, photo])
    for row in results["help"] + results["predict"]:
        print(f"{row['median_s']:6.3f} s median, {row['slowest_s']:6.3f} s slowest  {row['command']}")
    for name, facts in results["importtime"].items():
        print(f"{name}: imports TensorFlow {facts['imports_tensorflow']}, Keras {facts['imports_keras']}; slowest "
              + ", ".join(f"{r['module']} {r['cumulative_ms']:.0f} ms" for r in facts["slowest"][:4]))
    path = os.path.join(common.RESULTS_DIR, "startup.json")
    write_json(path, results)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
