"""Hyperparameter search (`tuning/`): the spaces build valid networks over
their whole range; random search, Hyperband and Bayesian optimization run
trials; a search resumes after SIGKILL; failed trials are recorded and too
many in a row stop the search; memory does not grow over trials; the results
table, plots, retrained and exported final model are written; the
latency/size-aware objective prefers the smaller model at equal accuracy;
and Keras Tuner's chief and two workers share a search, surviving a killed
worker. Uses scikit-learn's digits, tiny networks and one-epoch trials."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from conftest import free_port

from keras_cnns.cli import main as cli_main
from keras_cnns.data import load_arrays
from tuning import (
    InceptionHyperModel,
    ResNetHyperModel,
    ResourceConstraint,
    SearchConfig,
    VGGHyperModel,
    get_space,
    run_search,
    sample_hyperparameters,
    search_space,
)
from tuning.job import check_fixed
from tuning.memory import _gradient_registry
from tuning.spaces import scaled_recipe

# A two-block VGG of 8 and 16 filters: a trial of one epoch on 400 digits
# takes a few seconds; the training hyperparameters stay searched.
TINY_VGG = {"num_blocks": 2, "filter_scheme": "doubling", "base_filters": 16, "block1_convs": 1,
            "block2_convs": 1, "hidden_units": 0, "batch_norm": True, "spatial_dropout": 0.0,
            "dropout": 0.0}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tiny_search(out_dir, **overrides):
    options = dict(space="vgg", dataset="digits", tuner="random", max_trials=3, epochs=1, limit=400,
                   validation_split=0.2, fixed=dict(TINY_VGG), out_dir=str(out_dir))
    options.update(overrides)
    return SearchConfig(**options)


def read_csv(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def cli_env(**extra):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        env.pop(name, None)
    env.update(extra)
    return env


def tune_command(out_dir, *args):
    return [sys.executable, "-m", "keras_cnns", "tune", "vgg", "--dataset", "digits", "--limit", "400",
            "--validation-split", "0.2", "--epochs", "1", "--fixed", json.dumps(TINY_VGG), "--verbose", "0",
            "--out", str(out_dir), *args]


def worker_log(out_dir, tuner_id):
    path = os.path.join(out_dir, "search", "workers", f"{tuner_id}.json")
    if not os.path.exists(path):
        return []
    try:
        with open(path) as file:
            return json.load(file)["trials"]
    except json.JSONDecodeError:  # Never half-written (atomic), but be safe while polling.
        return []


def wait_for(condition, timeout, what, processes=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        for process in processes:
            if process.poll() not in (None, 0):
                raise AssertionError(f"a process exited with {process.returncode} while waiting for {what}: "
                                     f"{process.stderr.read()[-3000:] if process.stderr else ''}")
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# --- The spaces ----------------------------------------------------------------


@pytest.mark.parametrize("space, input_shape, layer", [
    ("resnet", (28, 28, 1), "conv2_block1_add"),
    ("vgg", (28, 28, 1), "block1_conv1"),
    ("inception", (32, 32, 1), "inception3a_concat"),
])
def test_every_space_builds_valid_models_across_its_range(space, input_shape, layer):
    hypermodel = get_space(space, input_shape, 10)
    names = [hp.name for hp in search_space(hypermodel).space]
    assert len(names) == len(set(names)), "every hyperparameter is declared once"
    # Every hyperparameter has an explicit default that is one of its values.
    for hp in search_space(hypermodel).space:
        assert hp.default is not None, hp.name
    sizes = []
    for hp in sample_hyperparameters(hypermodel, 12, seed=7):
        config = hypermodel.train_config(hp)
        model = hypermodel.build(hp)
        assert model.output_shape == (None, 10)
        assert layer in {l.name for l in model.layers}, "built by the project's builder"
        sizes.append(model.count_params())
        # Conditional hyperparameters only take values when their parents allow them.
        optimizer = hp.values["optimizer"]
        other = "adamw" if optimizer == "sgd" else "sgd"
        assert f"{optimizer}_learning_rate" in hp.values and f"{other}_learning_rate" not in hp.values
        assert config.learning_rate == hp.values[f"{optimizer}_learning_rate"]
        json.dumps(config.model_kwargs)  # Recorded in config.json and hyperparameters.json.
    assert len(set(sizes)) > 6, "the samples cover different networks"
    keras.backend.clear_session()


def test_conditional_hyperparameters_follow_their_parents():
    resnet = ResNetHyperModel((28, 28, 1), 10)
    for hp in sample_hyperparameters(resnet, 20, seed=1):
        stages = hp.values["num_stages"]
        assert all((f"stage{i}_blocks" in hp.values) == (i <= stages) for i in range(1, resnet.max_stages + 1))
        assert ("downsampling" in hp.values) == (hp.values["stem"] == "imagenet")
        kwargs = resnet.architecture(hp)
        assert len(kwargs["stackwise_num_blocks"]) == stages
        assert kwargs["stackwise_num_filters"][0] == hp.values["base_filters"]
    vgg = VGGHyperModel((28, 28, 1), 10)
    for hp in sample_hyperparameters(vgg, 20, seed=2):
        free = hp.values["filter_scheme"] == "free"
        assert ("block1_filters" in hp.values) == free and ("base_filters" in hp.values) == (not free)
        widths = [block[0] for block in vgg.architecture(hp)["configuration"]]
        if not free:
            assert widths == [hp.values["base_filters"] * 2**i for i in range(len(widths))]


def test_spaces_fit_the_image_size_and_refuse_what_cannot_fit():
    # 28x28: the ImageNet stem (stride 4) leaves room for 3 stages, VGG for 4 poolings.
    assert ResNetHyperModel((28, 28, 1), 10).max_stages == 3
    assert ResNetHyperModel((28, 28, 1), 10, stems=("cifar",), max_stages=5).max_stages == 5
    assert VGGHyperModel((28, 28, 1), 10).max_blocks == 4
    small = ResNetHyperModel((8, 8, 1), 10, min_stages=1)
    for hp in sample_hyperparameters(small, 10, seed=3):
        assert small.build(hp).output_shape == (None, 10)
    with pytest.raises(ValueError, match="leave room for 1 ResNet stage"):
        ResNetHyperModel((4, 4, 1), 10)
    with pytest.raises(ValueError, match="at least 4x4"):
        VGGHyperModel((3, 3, 1), 10)
    with pytest.raises(ValueError, match="input_shape must be"):
        InceptionHyperModel((28, 28), 10)
    with pytest.raises(ValueError, match="Unknown search space 'resnett'. Did you mean resnet"):
        get_space("resnett", (28, 28, 1), 10)
    keras.backend.clear_session()


def test_fixed_pins_hyperparameters_and_the_augmentation_strength_scales_the_recipe():
    hypermodel = VGGHyperModel((32, 32, 1), 10, dataset="fashion_mnist", fixed={"batch_size": 32, "dropout": 0.1})
    for hp in sample_hyperparameters(hypermodel, 5, seed=4):
        assert hp.values["batch_size"] == 32 and hypermodel.architecture(hp)["dropout"] == 0.1
    recipe = {"crop_padding": 2, "flip": True, "erasing": 0.25}  # Fashion-MNIST's default recipe.
    assert scaled_recipe(recipe, 1.0) == recipe
    assert scaled_recipe(recipe, 1.5) == {"crop_padding": 3, "flip": True, "erasing": 0.375}
    assert scaled_recipe(recipe, 0.0) is None
    assert scaled_recipe({"translation": 0.8}, 1.5) == {"translation": 0.95}
    with pytest.raises(ValueError, match="does not have.*'num_blokcs'"):
        check_fixed(get_space("vgg", (32, 32, 1), 10), {"num_blokcs": 2})


def test_fit_refuses_normalized_or_mismatched_arrays():
    hypermodel = VGGHyperModel((32, 32, 1), 10, fixed=TINY_VGG)
    hp = sample_hyperparameters(hypermodel, 1)[0]
    model = hypermodel.build(hp)
    images = np.zeros((8, 32, 32, 1), dtype=np.float32)
    with pytest.raises(ValueError, match="expects raw pixels in \\[0, 255\\]"):
        hypermodel.fit(hp, model, images + 0.5, np.zeros(8))
    with pytest.raises(ValueError, match="one label per image"):
        hypermodel.fit(hp, model, images.astype(np.uint8), np.zeros(7))
    with pytest.raises(ValueError, match="in-memory images"):
        hypermodel.fit(hp, model, [1, 2, 3], None)
    keras.backend.clear_session()


# --- Objectives -------------------------------------------------------------------


def test_mnasnet_objective_prefers_the_cheaper_model_when_accuracy_ties():
    soft = ResourceConstraint("latency_ms", target=2.0)
    # MnasNet's soft constraint: twice the latency costs about 5% of the score.
    assert soft.factor(4.0) == pytest.approx(2 ** -0.07)
    assert soft.score(0.9, 1.0) > soft.score(0.9, 2.0) > soft.score(0.9, 4.0)
    hard = ResourceConstraint("latency_ms", target=2.0, alpha=0.0, beta=-1.0)
    assert hard.score(0.9, 1.0) == hard.score(0.9, 2.0) == 0.9 and hard.score(0.9, 4.0) == pytest.approx(0.45)
    with pytest.raises(ValueError, match="alpha must be a number <= 0"):
        ResourceConstraint("size_kb", target=100, alpha=0.5)
    with pytest.raises(ValueError, match="resource must be one of"):
        ResourceConstraint("flops", target=100)

    # Measured on real exported TFLite files: a narrow and a wide network.
    arrays = load_arrays("digits", limit=100)
    hypermodel = VGGHyperModel(arrays.image_shape, 10, fixed={**TINY_VGG, "base_filters": 16})
    hp = sample_hyperparameters(hypermodel, 1)[0]
    narrow = hypermodel.build(hp)
    hp.values["base_filters"] = 64
    wide = hypermodel.build(hp)
    for resource in ("size_kb", "latency_ms"):
        constraint = ResourceConstraint(resource, target=1.0, runs=20)
        small_cost, large_cost = constraint.measure(narrow), constraint.measure(wide)
        assert 0 < small_cost < large_cost
        assert constraint.score(0.9, small_cost) > constraint.score(0.9, large_cost)
    keras.backend.clear_session()


# --- Search jobs -------------------------------------------------------------------


@pytest.fixture(scope="module")
def random_search(tmp_path_factory):
    """Three random-search trials, then the best network retrained on
    train+validation for one epoch, tested and exported to float32 TFLite."""
    out = tmp_path_factory.mktemp("random")
    config = tiny_search(out, keep_checkpoints=1, retrain_epochs=1, export_formats=["float32"])
    return config, run_search(config, verbose=0)


def test_random_search_writes_the_results_table_and_plots(random_search):
    config, result = random_search
    rows = read_csv(os.path.join(config.out_dir, "results.csv"))
    assert [row["trial_id"] for row in rows] == ["0", "1", "2"]
    assert all(row["status"] == "COMPLETED" and row["worker"] == "tuner0" for row in rows)
    for row in rows:
        assert 0 <= float(row["val_accuracy"]) <= 1 and int(row["num_params"]) > 0
        assert float(row["trial_seconds"]) > 0 and row["optimizer"] in ("sgd", "adamw")
        assert row[f"{row['optimizer']}_learning_rate"] and not row[
            f"{'adamw' if row['optimizer'] == 'sgd' else 'sgd'}_learning_rate"]
    # Trials differ in their searched training hyperparameters.
    assert len({(r["optimizer"], r["batch_size"], r["augment_strength"]) for r in rows}) > 1
    for name in ("accuracy_vs_params.png", "accuracy_vs_time.png"):
        with open(os.path.join(config.out_dir, name), "rb") as file:
            assert file.read(8) == PNG_SIGNATURE
    # Every trial recorded what later sizes the retraining (retrain_minutes).
    for row in rows:
        with open(os.path.join(config.out_dir, "search", f"trial_{row['trial_id']}", "trial.json")) as file:
            recorded = json.load(file)["metrics"]["metrics"]
        assert recorded["typical_epoch_seconds"]["observations"][0]["value"][0] > 0
        assert recorded["train_images"]["observations"][0]["value"][0] == 320  # 400 images, 20% validation
    summary = json.load(open(os.path.join(config.out_dir, "summary.json")))
    best = max(rows, key=lambda r: float(r["val_accuracy"]))
    assert summary["best_trial"] == best["trial_id"] and summary["completed"] == 3
    assert summary["trials_per_hour"] > 0
    # Only the best trial keeps its checkpoint (keep_checkpoints=1).
    kept = [t for t in "012" if os.path.exists(
        os.path.join(config.out_dir, "search", f"trial_{t}", "checkpoint.weights.h5"))]
    assert kept == [best["trial_id"]]


def test_the_best_network_is_retrained_tested_once_and_exported(random_search):
    config, result = random_search
    final = os.path.join(config.out_dir, "final")
    metrics = json.load(open(os.path.join(final, "metrics.json")))
    record = json.load(open(os.path.join(final, "hyperparameters.json")))
    assert metrics["epochs_run"] == 1 and metrics["num_val"] == 0  # Train+validation, no holdout.
    arrays = load_arrays("digits", limit=400, validation_split=0.2)
    assert metrics["num_train"] == len(arrays.train[1]) + len(arrays.val[1])
    assert metrics["num_test"] == len(arrays.test[1])
    assert result.test_accuracy == metrics["test_accuracy"]
    assert record["hyperparameters"] == result.best_hyperparameters
    assert record["builder"] == "keras_cnns.models.build_vgg"
    assert metrics["config"]["model_kwargs"] == record["model_kwargs"]
    report = json.load(open(os.path.join(final, "export", "export_report.json")))
    assert os.path.exists(os.path.join(final, "export", "model_float32.tflite"))
    assert "float32" in json.dumps(report)
    # Run again: nothing is trained or exported again, the same results come back.
    again = run_search(config, verbose=0)
    assert again.test_accuracy == result.test_accuracy and again.summary["completed"] == 3
    assert result.export_report is not None and again.export_report is None  # Not exported twice.


def test_a_changed_search_in_the_same_folder_is_refused(random_search):
    config, _ = random_search
    changed = tiny_search(config.out_dir, epochs=2)
    with pytest.raises(ValueError, match="holds another search.*epochs: saved 1, new 2"):
        run_search(changed, verbose=0)


def test_hyperband_continues_the_best_trials_from_their_checkpoints(tmp_path):
    config = tiny_search(tmp_path, tuner="hyperband", epochs=2, hyperband_factor=2, max_trials=3)
    result = run_search(config, verbose=0)
    rows = result.rows
    assert [r["status"] for r in rows] == ["COMPLETED"] * 3
    # Bracket 1: two trials of 1 epoch, then the better one trained to epoch 2.
    first_round = [r for r in rows if r["tuner/round"] == 0]
    promoted = [r for r in rows if r["tuner/round"] == 1]
    assert len(first_round) == 2 and len(promoted) == 1
    parent = max(first_round, key=lambda r: r["val_accuracy"])
    assert promoted[0]["tuner/trial_id"] == parent["trial_id"]
    assert promoted[0]["tuner/initial_epoch"] == 1 and promoted[0]["epochs"] == 1


def test_bayesian_search_under_a_size_constraint_scores_accuracy_times_size(tmp_path):
    constraint = {"resource": "size_kb", "target": 50.0}
    config = tiny_search(tmp_path, tuner="bayesian", max_trials=2, constraint=constraint)
    result = run_search(config, verbose=0)
    target = ResourceConstraint(**constraint)
    for row in result.rows:
        assert row["status"] == "COMPLETED" and row["size_kb"] > 0
        assert row["objective"] == pytest.approx(target.score(row["val_accuracy"], row["size_kb"]))
    assert result.summary["objective"] == "score"


def test_a_failing_trial_is_recorded_with_its_reason_and_the_search_goes_on(tmp_path):
    # SGD at learning rate 1e30 overflows to NaN at once; AdamW trials train.
    fixed = {**TINY_VGG, "batch_norm": False, "sgd_learning_rate": 1e30}
    config = tiny_search(tmp_path, fixed=fixed, max_trials=3, seed=2)
    result = run_search(config, verbose=0)
    failed = [r for r in result.rows if r["status"] == "FAILED"]
    completed = [r for r in result.rows if r["status"] == "COMPLETED"]
    assert failed and completed, [r["optimizer"] for r in result.rows]
    assert all(r["optimizer"] == "sgd" and r["reason"].startswith("TrainingDiverged: Training diverged")
               for r in failed), [(r["optimizer"], r["reason"]) for r in failed]
    assert all(r["optimizer"] == "adamw" for r in completed)
    assert result.best_hyperparameters["optimizer"] == "adamw"
    rows = read_csv(os.path.join(config.out_dir, "results.csv"))
    assert sum(r["reason"].startswith("TrainingDiverged") for r in rows) == len(failed)


def test_too_many_failures_in_a_row_stop_the_search_with_a_clear_message(tmp_path):
    fixed = {**TINY_VGG, "batch_norm": False, "optimizer": "sgd", "sgd_learning_rate": 1e30}
    config = tiny_search(tmp_path, fixed=fixed, max_trials=5, max_consecutive_failures=2)
    with pytest.raises(RuntimeError, match="2 trials in a row failed.*TrainingDiverged.*results so far"):
        run_search(config, verbose=0)
    rows = read_csv(os.path.join(config.out_dir, "results.csv"))
    assert [r["status"] for r in rows] == ["FAILED", "FAILED"]
    # Running it again stops at once, for the same reason, without new trials.
    with pytest.raises(RuntimeError, match="2 trials in a row failed"):
        run_search(config, verbose=0)
    assert len(read_csv(os.path.join(config.out_dir, "results.csv"))) == 2


def test_memory_does_not_grow_across_trials(tmp_path):
    """Six trials of one network (only the weight decay differs, so that the
    trials are distinct): the process's memory stays flat (TensorFlow's
    per-trace gradient registrations are released after each trial)."""
    fixed = {**TINY_VGG, "optimizer": "adamw", "batch_size": 64, "augment_strength": 1.0,
             "adamw_learning_rate": 1e-3}
    registry = _gradient_registry()
    entries_before = len(registry)
    config = tiny_search(tmp_path, fixed=fixed, max_trials=6, limit=300)
    result = run_search(config, verbose=0)
    memory = [row["memory_mb"] for row in result.rows]
    assert len(memory) == 6 and len({row["num_params"] for row in result.rows}) == 1
    slope = np.polyfit(np.arange(1, 6), memory[1:], 1)[0]
    # Without the release this grows by 4 to 9 MB per trial here.
    assert slope < 2.0, f"memory per trial (MB): {memory}"
    assert len(registry) == entries_before


def test_resume_after_sigkill_runs_no_finished_trial_again(tmp_path):
    out = tmp_path / "job"
    command = tune_command(out, "--max-trials", "4")
    process = subprocess.Popen(command, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    try:
        wait_for(lambda: sum(e["status"] == "COMPLETED" for e in worker_log(out, "tuner0")) >= 2
                 and worker_log(out, "tuner0")[-1]["status"] == "RUNNING", 240,
                 "two finished trials and a third running", [process])
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    before = worker_log(out, "tuner0")
    finished_before = {e["trial_id"] for e in before if e["status"] == "COMPLETED"}
    rerun = subprocess.run(command, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    entries = worker_log(out, "tuner0")
    assert entries[len(before) - 1]["status"] == "INTERRUPTED"  # The killed trial...
    run_again = [e["trial_id"] for e in entries[len(before):]]
    assert before[-1]["trial_id"] in run_again  # ...runs again,
    assert not finished_before & set(run_again)  # finished ones do not.
    rows = read_csv(out / "results.csv")
    assert [r["status"] for r in rows] == ["COMPLETED"] * 4
    assert "Best of 4 trials" in rerun.stdout


def test_tune_command_errors_are_one_line(tmp_path, capsys):
    assert cli_main(["tune", "resnett", "--dataset", "digits", "--out", str(tmp_path)]) == 2
    assert "Unknown search space 'resnett'" in capsys.readouterr().err
    assert cli_main(["tune", "vgg", "--fixed", "[1, 2]", "--out", str(tmp_path)]) == 2
    assert "--fixed must be a JSON object" in capsys.readouterr().err
    assert cli_main(["tune", "vgg", "--dataset", "digits", "--validation-split", "0",
                     "--out", str(tmp_path)]) == 2
    assert "scored on the validation split" in capsys.readouterr().err


# --- Distributed: Keras Tuner's chief and workers --------------------------------


def test_chief_and_two_workers_share_the_trials_and_survive_a_killed_worker(tmp_path):
    out = tmp_path / "job"
    port = str(free_port())
    command = tune_command(out, "--max-trials", "6")

    def start(tuner_id):
        env = cli_env(KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP="127.0.0.1",
                      KERASTUNER_ORACLE_PORT=port)
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    chief, worker0, worker1 = start("chief"), start("tuner0"), start("tuner1")
    processes = [chief, worker0, worker1]
    try:
        # Kill worker 1 in the middle of its second trial, then start it again.
        wait_for(lambda: sum(e["status"] == "COMPLETED" for e in worker_log(out, "tuner1")) >= 1
                 and worker_log(out, "tuner1")[-1]["status"] == "RUNNING", 300,
                 "worker tuner1 to run its second trial", processes)
        killed_trial = worker_log(out, "tuner1")[-1]["trial_id"]
        worker1.send_signal(signal.SIGKILL)
        worker1.wait()
        restarted = start("tuner1")
        processes = [chief, worker0, restarted]
        for process in processes:
            process.wait(timeout=400)
        outputs = [process.communicate() for process in processes]
    finally:
        for process in [chief, worker0, worker1] + processes:
            if process.poll() is None:
                process.kill()
    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]

    logs = {tuner_id: worker_log(out, tuner_id) for tuner_id in ("tuner0", "tuner1")}
    completed = {tuner_id: [e["trial_id"] for e in entries if e["status"] == "COMPLETED"]
                 for tuner_id, entries in logs.items()}
    assert all(completed.values()), f"both workers ran trials: {completed}"
    everything = completed["tuner0"] + completed["tuner1"]
    assert sorted(everything) == [str(i) for i in range(6)], "every trial ran to the end exactly once"
    # The trial cut short by the kill was taken over by the restarted worker.
    assert [e["status"] for e in logs["tuner1"] if e["trial_id"] == killed_trial] == ["INTERRUPTED", "COMPLETED"]
    rows = read_csv(out / "results.csv")
    assert len(rows) == 6 and all(r["status"] == "COMPLETED" for r in rows)
    assert {r["worker"] for r in rows} == {"tuner0", "tuner1"}
    assert "Best of 6 trials" in outputs[0][0]  # The chief writes the results.
    assert os.path.exists(out / "final" / "metrics.json")


def test_retrain_minutes_become_epochs_from_the_best_trials_time_per_image():
    import keras_tuner

    from tuning.job import retrain_epochs

    arrays = load_arrays("digits", limit=400, validation_split=0.2)
    trial = keras_tuner.engine.trial.Trial(keras_tuner.HyperParameters(), trial_id="3")
    for name, value in (("fastest_epoch_seconds", 2.0), ("train_images", 320)):
        trial.metrics.register(name)
        trial.metrics.update(name, value)
    # 2 s for 320 images: 2.5 s per epoch of the 400 train+validation images.
    assert retrain_epochs(tiny_search("/tmp/unused", retrain_minutes=1.0), trial, arrays) == 24
    assert retrain_epochs(tiny_search("/tmp/unused", retrain_minutes=0.01), trial, arrays) == 1
    assert retrain_epochs(tiny_search("/tmp/unused", retrain_epochs=5), trial, arrays) == 5
    with pytest.raises(ValueError, match="not both"):
        tiny_search("/tmp/unused", retrain_epochs=5, retrain_minutes=1.0)
    # A trial that also recorded its typical (median) epoch is sized by that one.
    trial.metrics.register("typical_epoch_seconds")
    trial.metrics.update("typical_epoch_seconds", 3.0)  # 3.75 s per epoch of 400 images
    assert retrain_epochs(tiny_search("/tmp/unused", retrain_minutes=1.0), trial, arrays) == 16


def test_the_typical_epoch_leaves_out_the_traced_first_epoch_and_outliers():
    from tuning.tuner import epoch_timing

    # First epoch (tracing) left out; the median of 2, 4, 5 and 60, not the fastest (2.0).
    assert epoch_timing([30.0, 2.0, 5.0, 4.0, 60.0], 320) == {"typical_epoch_seconds": 4.5, "train_images": 320}
    assert epoch_timing([7.0], 100)["typical_epoch_seconds"] == 7.0


def test_the_time_budget_stops_the_search_and_stays_spent_when_run_again(tmp_path):
    config = tiny_search(tmp_path, max_trials=20, budget_minutes=0.1, limit=300)
    result = run_search(config, verbose=0)
    assert 1 <= result.summary["completed"] < 20
    assert "time budget of 0.1 minutes is spent" in result.summary["stop_reason"]
    again = run_search(config, verbose=0)
    assert again.summary["trials"] == result.summary["trials"]
    assert again.summary["search_seconds"] >= 6
