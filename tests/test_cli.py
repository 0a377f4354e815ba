"""The command line: the entry point end to end in a fresh process (`run_cli`), and the commands that need
no fresh process in this one (`run_main`: the parser, the command and its error handling), since each
process start imports TensorFlow (12 s of CPU on a 2-core AMD EPYC)."""

import json

import pytest
from conftest import run_cli, run_main

# Marked zoo (run on JAX and PyTorch too): the commands that build, train or load a network. Argument
# handling is the same on every backend and runs on TensorFlow only.


@pytest.mark.zoo
def test_models_table(capsys):
    status, stdout, stderr = run_main(capsys, "models", "resnet2*")
    assert status == 0, stderr
    assert "resnet20" in stdout and "271,098" in stdout and "resnet50" not in stdout


@pytest.mark.zoo
def test_summary_and_its_error(capsys):
    status, stdout, stderr = run_main(capsys, "summary", "lenet5")
    assert status == 0, stderr
    assert "61,706" in stdout
    status, stdout, stderr = run_main(capsys, "summary", "vgg16", "--input-shape", "28,28,1")
    assert status == 2
    assert "at least 32x32" in stderr and "Traceback" not in stderr


@pytest.mark.zoo
def test_every_command_has_help_with_an_example():
    for command in ["models", "summary", "tour", "train", "evaluate", "export", "predict", "tune", "visualize",
                    "finetune", "recipes"]:
        result = run_cli(command, "--help")
        assert result.returncode == 0 and "Example: keras-cnns" in result.stdout


@pytest.mark.zoo
def test_visualize_offers_exactly_the_kinds_the_library_draws():
    from keras_cnns.inspect import KINDS, figures

    choices = next(action.choices for action in _subcommand("visualize")._actions if action.dest == "kind")
    assert tuple(choices) == KINDS and figures.KINDS is KINDS


def _subcommand(name):
    from keras_cnns.cli import build_parser

    return build_parser()._subparsers._group_actions[0].choices[name]


@pytest.mark.zoo
def test_tour_builds_the_chosen_networks(capsys):
    status, stdout, stderr = run_main(capsys, "tour", "resnet3?")
    assert status == 0, stderr
    assert "Built 2 networks" in stdout and "466,426" in stdout


@pytest.mark.zoo
def test_train_then_evaluate_end_to_end(tmp_path):
    out = tmp_path / "run"
    result = run_cli("train", "lenet5", "--dataset", "digits", "--epochs", "3", "--batch-size", "64",
                     "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Test accuracy" in result.stdout
    reported = float(result.stdout.split("Test accuracy ")[1].split()[0])
    assert reported > 0.5  # ten classes: chance is 0.1
    for name in ["config.json", "history.csv", "best.keras", "metrics.json", "learning_curves.png",
                 "confusion_matrix.png"]:
        assert (out / name).stat().st_size > 0
    evaluated = run_cli("evaluate", str(out))
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert f"Test accuracy {reported:.4f}" in evaluated.stdout


def test_train_with_a_bad_model_name_fails_clearly(capsys):
    status, _, stderr = run_main(capsys, "train", "resnet5", "--dataset", "digits")
    assert status == 2 and "Did you mean" in stderr and "Traceback" not in stderr


def test_recipes_are_listed_and_a_recipe_trains_with_overrides(tmp_path, capsys):
    status, stdout, stderr = run_main(capsys, "recipes")
    assert status == 0, stderr
    assert "fashion_mnist_quick" in stdout and "vgg11_bn" in stdout
    assert "fashion_mnist_resnet20" in stdout

    out = tmp_path / "recipe-run"
    status, _, stderr = run_main(capsys, "train", "--recipe", "fashion_mnist_quick", "--dataset", "digits",
                                 "--epochs", "1", "--limit", "300", "--classes", "0,1,2", "--image-size", "36",
                                 "--validation-split", "0", "--no-fused-batch-norm", "--out", out)
    assert status == 0, stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert config["classes"] == [0, 1, 2]
    assert config["fused_batch_norm"] is False  # The recipe's "auto", turned off by the flag.
    assert len(json.loads((out / "metrics.json").read_text())["per_class_accuracy"]) == 3
    # The recipe's settings, and the command line's where it gave one.
    assert config["model"] == "vgg11_bn" and config["model_kwargs"]["width_multiplier"] == 0.25
    assert config["optimizer"] == "sgd" and config["learning_rate"] == 0.1
    assert config["dataset"] == "digits" and config["epochs"] == 1 and config["limit"] == 300
    assert config["image_size"] == [36, 36]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["image_shape"] == [36, 36, 1]
    # --validation-split 0: every one of the 300 images trains, none is held out.
    assert config["validation_split"] == 0 and metrics["num_val"] == 0 and metrics["num_train"] == 300


def test_train_refuses_a_bad_image_size_and_leaves_nothing_behind(tmp_path, capsys):
    """In this process (the other bad train arguments are rows of tests/test_cli_bad_input.py)."""
    with pytest.raises(SystemExit) as refused:
        run_main(capsys, "train", "lenet5", "--dataset", "digits", "--image-size", "big")
    assert refused.value.code == 2 and "expected SIZE or HEIGHT,WIDTH" in capsys.readouterr().err
    out = tmp_path / "too-small"
    status, _, stderr = run_main(capsys, "train", "lenet5", "--dataset", "digits", "--image-size", "16",
                                 "--out", out)
    assert status == 2 and "lenet5 needs inputs of at least 32x32" in stderr and "Traceback" not in stderr
    # Nothing was left that would refuse the corrected command as "another configuration".
    assert not (out / "config.json").exists()
