"""The README, followed in order as a newcomer would, at small sizes.

Every code block of README.md is found here: its Python blocks are run, and
its command lines run through the `keras-cnns` entry point, in the README's
order, in one empty folder, so that a block that reuses what an earlier one
wrote is tried as a reader would try it (391 s beside the other tests on a
2-core Intel Xeon on 2026-12-03; 7 minutes alone on a 2-core AMD EPYC).
They run on the real Fashion-MNIST cut to 6,000 training and 1,000 test
images, with fewer epochs and images, declared below block by block as text
replaced or options added; a block is left out only with its reason. A block
this file does not know, or a replacement whose text the README no longer
holds, fails the test: the README cannot drift from the code unnoticed.
"""

import dataclasses
import importlib.util
import os
import re
import shlex

import numpy as np
import pytest

from conftest import FASHION_MNIST_DIR, write_fashion_mnist

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")

# Options that shrink a training or search command (argparse keeps the last of a repeated option).
ONE_EPOCH = ["--epochs", "1", "--limit", "300"]
# A network trained for one epoch on 300 images is not held to a trained network's int8 tolerances.
REPORT_QUANTIZED = ["--min-quantized-agreement", "-1", "--max-quantized-accuracy-drop", "-1"]


@dataclasses.dataclass
class Step:
    """How one README block runs here.

    Attributes:
        add: Options appended to a command line.
        replace: `(README text, text run instead)` pairs for a Python block.
        skip: Why the block is not run here ("" when it is).
    """

    add: list = dataclasses.field(default_factory=list)
    replace: list = dataclasses.field(default_factory=list)
    skip: str = ""


# Command lines, by their text in the README.
COMMANDS = {
    "(command -v apt-get": Step(skip="the set-up command; its training runs below as the recipe's command"),
    "bash tests/run.sh": Step(skip="this test suite"),
    "keras-cnns train resnet20 --dataset fashion_mnist --epochs 10 --out runs/r20": Step(add=ONE_EPOCH),
    "keras-cnns evaluate runs/r20": Step(),
    "keras-cnns recipes": Step(),
    "keras-cnns train --recipe fashion_mnist_quick --out runs/quick": Step(add=ONE_EPOCH),
    "KERAS_BACKEND=jax keras-cnns train lenet5": Step(skip="two JAX processes: tests/test_distributed.py"),
    "keras-cnns export runs/r20 --out exports/r20": Step(skip="its formats are a subset of the next line's"),
    "keras-cnns export runs/r20 --out exports/r20-all": Step(add=REPORT_QUANTIZED),
    "keras-cnns predict saved_models/resnet20_fashion_mnist shoe.jpg shirt.png --top-k 3": Step(),
    "keras-cnns predict saved_models/resnet20_fashion_mnist photo.jpg --min-confidence 0.7": Step(),
    "keras-cnns tune vgg --dataset fashion_mnist": Step(add=["--max-trials", "1", "--epochs", "1", "--trial-images",
                                                             "200", "--limit", "600", "--retrain-epochs", "1",
                                                             *REPORT_QUANTIZED]),
    "export KERASTUNER_ORACLE_IP=": Step(skip="a chief and workers: tests/test_tuning.py runs them"),
    "KERASTUNER_TUNER_ID=": Step(skip="a chief and workers: tests/test_tuning.py runs them"),
    "keras-cnns summary resnet20 --input-shape 28,28,1 --classes 10": Step(),
    "keras-cnns summary runs/r20": Step(),
    "keras-cnns visualize runs/r20 test:0 --kind gradcam": Step(),
    "keras-cnns visualize runs/r20 shirt.png --kind feature-maps": Step(),
    "keras-cnns visualize runs/r20 --kind filters": Step(),
    "keras-cnns train resnet20 --dataset fashion_mnist --classes 0,1,2,3,4 --out runs/r20-five": Step(add=ONE_EPOCH),
    "keras-cnns finetune runs/r20-five": Step(add=["--head-epochs", "1", "--epochs", "1"]),
    "keras-cnns finetune resnet50 --dataset ./photos": Step(skip="downloads ResNet50's ImageNet weights"),
}

# Python blocks, by a line that only they hold.
PYTHON = {
    'keras_cnns.list_models("resnet*")': Step(replace=[(
        'weights="imagenet")', 'weights=None)  # ImageNet weights cannot be downloaded here')]),
    "from keras_cnns import blocks": Step(),
    'bundle = load_dataset("fashion_mnist", batch_size=128, validation_split=0.1)': Step(replace=[
        ("validation_split=0.1)", "validation_split=0.1, limit=300)"), ("epochs=3)", "epochs=1)")]),
    'report = scan_image_folder("./photos")': Step(),
    'load_dataset("fashion_mnist", augment=None)': Step(),
    'config = default_config("resnet20", "fashion_mnist", epochs=10': Step(replace=[
        ("epochs=10,", "epochs=1, limit=300,")]),
    "strategy=tf.distribute.MirroredStrategy()": Step(skip="downloads CIFAR-10"),
    'report = export_model("runs/r20"': Step(replace=[(
        '"int8"))', '"int8"), min_quantized_agreement=None, max_quantized_accuracy_drop=None)')]),
    "from mediapipe.tasks.python import vision": Step(),
    'classifier = TFLiteClassifier("saved_models/resnet20_fashion_mnist"': Step(),
    'result = fine_tune(source="runs/r20-five"': Step(replace=[
        ("head_epochs=5, fine_tune_epochs=10", "head_epochs=1, fine_tune_epochs=1")]),
}

# Fenced blocks in other languages: the phone apps' code.
OTHER_LANGUAGES = ("kotlin", "swift")


def readme_blocks(text):
    """`[(kind, code)]` in README order: kind "python", another fence's language, or "command"."""
    blocks, lines, index = [], text.splitlines(), 0
    while index < len(lines):
        fence = re.match(r"```(\w*)\s*$", lines[index])
        if fence:
            end = lines.index("```", index + 1)
            blocks.append((fence.group(1) or "text", "\n".join(lines[index + 1:end])))
            index = end + 1
            continue
        if lines[index].startswith("    ") and (index == 0 or not lines[index - 1].strip()):
            while index < len(lines) and lines[index].startswith("    "):
                command = lines[index][4:]
                while command.endswith("\\"):
                    index += 1
                    command = command[:-1] + " " + lines[index].strip()
                blocks.append(("command", command.strip()))
                index += 1
            continue
        index += 1
    return blocks


def _matches(key, code, table):
    """Whether `key` names `code`: a Python block holds it; a command line is it, or starts with it as whole
    words (or with a key that ends in punctuation)."""
    if table is PYTHON:
        return key in code
    return code.startswith(key) and (len(code) == len(key) or not key[-1].isalnum() or code[len(key)] == " ")


def _step(table, code):
    """The entry of `table` that names `code`; fails unless exactly one does."""
    matches = [key for key in table if _matches(key, code, table)]
    assert len(matches) == 1, (f"README block {code[:80]!r} matches {len(matches)} entries of tests/test_readme.py "
                               f"({matches}); give it one entry")
    return table[matches[0]]


def test_every_readme_block_has_one_entry_here():
    blocks = readme_blocks(open(README, encoding="utf-8").read())
    kinds = {kind for kind, _ in blocks}
    assert kinds <= {"python", "command", *OTHER_LANGUAGES}, kinds
    used = {id(_step(COMMANDS if kind == "command" else PYTHON, code)) for kind, code in blocks
            if kind in ("command", "python")}
    unused = [key for table in (COMMANDS, PYTHON) for key, step in table.items() if id(step) not in used]
    assert not unused, f"entries of tests/test_readme.py that no README block uses: {unused}"
    assert sum(kind == "command" for kind, _ in blocks) >= 20 and sum(kind == "python" for kind, _ in blocks) >= 10


def _make_files(folder, fashion_test):
    """The files the README's examples name: photos of garments, and a folder of images per class."""
    from PIL import Image

    (images, labels), names = fashion_test
    for file, label in (("shoe.jpg", 7), ("shirt.png", 6), ("photo.jpg", 0), ("shirt.jpg", 6)):
        image = images[np.flatnonzero(labels == label)[0], :, :, 0]
        Image.fromarray(255 - image).resize((160, 160)).convert("RGB").save(folder / file)  # Dark on light.
    for label in (5, 9):
        os.makedirs(folder / "photos" / names[label])
        for index in np.flatnonzero(labels == label)[:12]:
            Image.fromarray(images[index, :, :, 0]).save(folder / "photos" / names[label] / f"{index}.png")


@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR), reason="needs the real Fashion-MNIST (Debian package)")
def test_readme_followed_in_order(tmp_path, monkeypatch, capsys, fashion_mnist_slice):
    from keras_cnns.cli import main

    from keras_cnns.data import sources

    train, (test_images, test_labels), names = fashion_mnist_slice
    _make_files(tmp_path, ((test_images, test_labels), names))
    # The real Fashion-MNIST cut to 6,000 training and 1,000 test images, where the commands look for it:
    # every evaluation and every export's verification runs on a tenth of the test set.
    small = write_fashion_mnist(tmp_path / "_fashion-mnist", train, (test_images, test_labels))
    monkeypatch.setattr(sources, "DEBIAN_FASHION_MNIST_DIR", str(small))
    os.symlink(os.path.join(os.path.dirname(README), "saved_models"), tmp_path / "saved_models")
    monkeypatch.chdir(tmp_path)
    ran = []
    for kind, code in readme_blocks(open(README, encoding="utf-8").read()):
        if kind == "python":
            step = _step(PYTHON, code)
            if step.skip:
                continue
            if "mediapipe" in code and importlib.util.find_spec("mediapipe") is None:
                continue  # The mobile extra is missing: this block alone is left out, not the rest of the walk.
            for old, new in step.replace:
                assert old in code, f"tests/test_readme.py replaces {old!r}, which the block no longer holds"
                code = code.replace(old, new)
            exec(compile(code, f"README.md block {len(ran) + 1}", "exec"), {"__name__": "readme"})
        elif kind == "command":
            step = _step(COMMANDS, code)
            if step.skip:
                continue
            words = shlex.split(code)
            assert words[0] == "keras-cnns", code
            status = main(words[1:] + step.add)
            output = capsys.readouterr()
            assert status == 0, f"`{code}` exited {status}:\n{output.err[-2000:]}"
            assert "Traceback" not in output.err
        else:
            continue
        ran.append(code.splitlines()[0])
    assert len(ran) >= 25, ran
    # What the blocks promise to leave behind.
    for path in ("runs/r20/best.keras", "runs/r20-python/metrics.json", "runs/quick/metrics.json",
                 "exports/r20-all/model_mobile_int8.tflite", "exports/r20-all/model.onnx",
                 "exports/r20-python/model_card.json", "runs/tune-vgg/summary.json", "runs/ft/finetune.json",
                 "runs/ft-python/metrics.json", "runs/r20/visualize"):
        assert os.path.exists(path), path
