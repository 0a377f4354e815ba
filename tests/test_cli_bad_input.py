"""The bad-input table: every command, fed what an adversarial user gives it, fails cleanly.

Each row is a command line and what its one-line error must name (the
argument, the file, or the fix). Every row must end with a non-zero exit
status and no Python traceback. A new command or option gets a row here.
Rows run in this process through `keras_cnns.cli.main` (the parser, the
command and its error handling), so the table costs seconds.

Placeholders: {tmp} is a fresh folder, {run} a small finished run
directory, {export} an export of it, {file} a text file, {missing} a path
that does not exist.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image
from conftest import run_main

# (id, command line, what the error must say)
CASES = [
    # train
    ("train: no model", ["train", "--dataset", "digits"], "needs a model name or a --recipe"),
    ("train: unknown model", ["train", "resnet5", "--dataset", "digits"], "resnet50"),
    ("train: unknown recipe", ["train", "--recipe", "fashion_mnist_1min"], "fashion_mnist_quick"),
    ("train: dataset typo", ["train", "lenet5", "--dataset", "digitz", "--out", "{tmp}/a"], "Did you mean 'digits'"),
    ("train: model-kwargs not JSON", ["train", "lenet5", "--dataset", "digits", "--model-kwargs", "{bad"],
     "--model-kwargs"),
    ("train: model-kwargs not an object", ["train", "lenet5", "--dataset", "digits", "--model-kwargs", "[1]"],
     "--model-kwargs"),
    ("train: unknown knob", ["train", "lenet5", "--dataset", "digits", "--model-kwargs", '{"wdth_multiplier": 2}'],
     "Did you mean 'width_multiplier'"),
    ("train: negative width", ["train", "lenet5", "--dataset", "digits", "--model-kwargs",
                               '{"width_multiplier": -3}'], "width_multiplier must be a positive number"),
    ("train: zero width", ["train", "lenet5", "--dataset", "digits", "--model-kwargs", '{"width_multiplier": 0}'],
     "width_multiplier must be a positive number"),
    ("train: zero epochs", ["train", "lenet5", "--dataset", "digits", "--epochs", "0"], "--epochs"),
    ("train: negative batch", ["train", "lenet5", "--dataset", "digits", "--batch-size", "-8"], "--batch-size"),
    ("train: learning rate NaN", ["train", "lenet5", "--dataset", "digits", "--lr", "nan"], "--lr"),
    ("train: learning rate 0", ["train", "lenet5", "--dataset", "digits", "--lr", "0"], "--lr"),
    ("train: smoothing 1", ["train", "lenet5", "--dataset", "digits", "--label-smoothing", "1"],
     "--label-smoothing"),
    ("train: validation split 1", ["train", "lenet5", "--dataset", "digits", "--validation-split", "1"],
     "--validation-split"),
    ("train: limit 0", ["train", "lenet5", "--dataset", "digits", "--limit", "0"], "--limit"),
    ("train: limit leaves no validation image", ["train", "lenet5", "--dataset", "digits", "--limit", "3",
                                                 "--out", "{tmp}/b"], "--limit"),
    ("train: image size 0", ["train", "lenet5", "--dataset", "digits", "--image-size", "0"], "--image-size"),
    ("train: image size too small", ["train", "lenet5", "--dataset", "digits", "--image-size", "16",
                                     "--out", "{tmp}/c"], "at least 32x32"),
    ("train: classes unknown", ["train", "lenet5", "--dataset", "digits", "--classes", "3,42"], "42"),
    ("train: missing folder", ["train", "lenet5", "--dataset", "{missing}"], "{missing}"),
    ("train: one-class folder", ["train", "lenet5", "--dataset", "{one_class}", "--out", "{tmp}/d"],
     "at least two classes"),
    ("train: folder with a bad file", ["train", "lenet5", "--dataset", "{bad_folder}", "--out", "{tmp}/e"],
     "--skip-bad-files"),
    ("train: out is a file", ["train", "lenet5", "--dataset", "digits", "--out", "{file}"], "{file}"),
    ("train: other settings in a run", ["train", "lenet5", "--dataset", "digits", "--epochs", "2", "--out", "{run}"],
     "--overwrite"),
    ("train: process id alone", ["train", "lenet5", "--dataset", "digits", "--process-id", "1"], "--coordinator"),
    ("train: ema decay 1", ["train", "lenet5", "--dataset", "digits", "--ema-decay", "1"],
     "--ema-decay must be below 1"),
    ("train: ema decay negative", ["train", "lenet5", "--dataset", "digits", "--ema-decay", "-0.5"],
     "--ema-decay must be a finite number in (0, inf)"),
    ("train: lr batch size zero", ["train", "lenet5", "--dataset", "digits", "--lr-batch-size", "0"],
     "--lr-batch-size must be"),
    ("train: batch-norm momentum 1", ["train", "lenet5", "--dataset", "digits", "--batch-norm-momentum", "1"],
     "--batch-norm-momentum must be a finite number in [0, 1)"),
    ("train: norm-bias scale with adam", ["train", "lenet5", "--dataset", "digits", "--optimizer", "adam",
                                          "--norm-bias-lr-scale", "8"],
     "--norm-bias-lr-scale 8.0 needs --optimizer 'sgd'"),
    ("train: unknown precision", ["train", "lenet5", "--dataset", "digits", "--mixed-precision", "fp8"],
     "--mixed-precision: invalid choice: 'fp8'"),
    ("train: lookahead steps zero", ["train", "lenet5", "--dataset", "digits", "--lookahead-steps", "0"],
     "--lookahead-steps must be"),
    ("train: lookahead alpha zero", ["train", "lenet5", "--dataset", "digits", "--lookahead-steps", "5",
                                     "--lookahead-alpha", "0"], "--lookahead-alpha must be a finite number in (0, 1]"),
    ("train: unknown tta views", ["train", "lenet5", "--dataset", "digits", "--tta", "spin"],
     "--tta: invalid choice: 'spin'"),
    # evaluate
    ("evaluate: missing run", ["evaluate", "{missing}"], "{missing}"),
    ("evaluate: folder that is no run", ["evaluate", "{tmp}"], "best.keras"),
    ("evaluate: truncated best.keras", ["evaluate", "{truncated_run}"], "damaged"),
    ("evaluate: config.json not JSON", ["evaluate", "{bad_config_run}"], "config.json is not valid JSON"),
    ("evaluate: a text file", ["evaluate", "{file}"], "not a Keras 3 model file"),
    ("evaluate: unknown tta views", ["evaluate", "{run}", "--tta", "rotate"], "--tta: invalid choice: 'rotate'"),
    # export
    ("export: missing run", ["export", "{missing}", "--out", "{tmp}/x1"], "{missing}"),
    ("export: unknown format", ["export", "{run}", "--out", "{tmp}/x2", "--formats", "float64"], "float64"),
    ("export: empty formats", ["export", "{run}", "--out", "{tmp}/x3", "--formats", ","], "formats"),
    ("export: calibration size 0", ["export", "{run}", "--out", "{tmp}/x4", "--formats", "int8",
                                    "--calibration-size", "0"], "--calibration-size"),
    ("export: out inside a file", ["export", "{run}", "--out", "{file}/x5"], "{file}"),
    ("export: out not writable", ["export", "{run}", "--out", "/proc/keras_cnns_export"], "/proc"),
    ("export: out holds other files", ["export", "{run}", "--out", "{run}"], "not an export"),
    ("export: unknown tta views", ["export", "{run}", "--out", "{tmp}/x7", "--tta", "five"],
     "--tta: invalid choice: 'five'"),
    ("export: threads 0", ["export", "{run}", "--out", "{tmp}/x6", "--formats", "float32", "--threads", "0"],
     "--threads"),
    # predict
    ("predict: missing model", ["predict", "{missing}", "{image}"], "{missing}"),
    ("predict: run, not an export", ["predict", "{run}", "{image}"], "not an export"),
    ("predict: missing image", ["predict", "{export}", "{missing}"], "{missing}"),
    ("predict: text file as image", ["predict", "{export}", "{file}"], "{file}"),
    ("predict: top-k 0", ["predict", "{export}", "{image}", "--top-k", "0"], "--top-k"),
    ("predict: min-confidence 1.5", ["predict", "{export}", "{image}", "--min-confidence", "1.5"],
     "--min-confidence"),
    ("predict: format not exported", ["predict", "{export}", "{image}", "--format", "float16"], "float16"),
    ("predict: card is a list", ["predict", "{card_list}", "{image}"], "model_card.json: the card must be"),
    ("predict: card not JSON", ["predict", "{card_broken}", "{image}"], "is not valid JSON"),
    ("predict: card names a file outside", ["predict", "{card_outside}", "{image}"], "outside its folder"),
    ("predict: card without sha256", ["predict", "{card_no_sha}", "{image}"], "holds no SHA-256"),
    ("predict: tampered file", ["predict", "{card_tampered}", "{image}"], "SHA-256"),
    # summary, models
    ("summary: unknown model", ["summary", "lenet6"], "lenet5"),
    ("summary: bad shape", ["summary", "lenet5", "--input-shape", "32,32"], "--input-shape"),
    ("summary: shape too small", ["summary", "lenet5", "--input-shape", "8,8,1"], "at least 32x32"),
    ("summary: options of a run", ["summary", "{run}", "--classes", "3"], "--classes"),
    # visualize
    ("visualize: missing run", ["visualize", "{missing}", "test:0"], "{missing}"),
    ("visualize: test index out of range", ["visualize", "{run}", "test:99999", "--out", "{tmp}/v"], "test:99999"),
    ("visualize: missing image", ["visualize", "{run}", "{missing}", "--out", "{tmp}/v"], "{missing}"),
    ("visualize: unknown layer", ["visualize", "{run}", "test:0", "--kind", "feature-maps", "--layers", "c9",
                                  "--out", "{tmp}/v"], "c9"),
    ("visualize: class index out of range", ["visualize", "{run}", "test:0", "--class-index", "12",
                                             "--out", "{tmp}/v"], "--class-index"),
    # finetune
    ("finetune: missing source", ["finetune", "{missing}", "--dataset", "digits", "--out", "{tmp}/f1"],
     "{missing}"),
    ("finetune: head epochs 0", ["finetune", "{run}", "--dataset", "digits", "--head-epochs", "0",
                                 "--out", "{tmp}/f2"], "--head-epochs"),
    ("finetune: limit leaves no validation image", ["finetune", "{run}", "--dataset", "digits", "--limit", "3",
                                                    "--out", "{tmp}/f3"], "--limit"),
    ("finetune: folder with a bad file", ["finetune", "{run}", "--dataset", "{bad_folder}", "--out", "{tmp}/f4"],
     "--skip-bad-files"),
    # tune
    ("tune: unknown space", ["tune", "vggg", "--dataset", "digits"], "vgg"),
    ("tune: epochs 0", ["tune", "vgg", "--dataset", "digits", "--epochs", "0"], "--epochs"),
    ("tune: fixed not JSON", ["tune", "vgg", "--dataset", "digits", "--fixed", "{x"], "--fixed"),
    ("tune: unknown fixed name", ["tune", "vgg", "--dataset", "digits", "--fixed", '{"batchsize": 64}',
                                  "--out", "{tmp}/t1", "--max-trials", "1"], "batchsize"),
    ("tune: unknown export format", ["tune", "vgg", "--dataset", "digits", "--export", "float64"], "float64"),
    ("tune: validation split 0", ["tune", "vgg", "--dataset", "digits", "--validation-split", "0"],
     "--validation-split"),
    ("tune: both retrain options", ["tune", "vgg", "--dataset", "digits", "--retrain-epochs", "2",
                                    "--retrain-minutes", "3"], "--retrain-epochs"),
    # argparse's own errors
    ("no command", [], "COMMAND"),
    ("unknown option", ["train", "lenet5", "--epocs", "3"], "--epocs"),
    ("not a number", ["train", "lenet5", "--epochs", "three"], "--epochs"),
]


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """The files and folders the table's placeholders name."""
    from keras_cnns.export import export_model
    from keras_cnns.train import default_config, train

    root = tmp_path_factory.mktemp("places")
    run = str(root / "run")
    train(default_config("lenet5", "digits", epochs=1, out_dir=run, augment=None), verbose=0)
    export = str(root / "export")
    export_model(run, export, formats=("float32",), measure_latency=False)
    text = root / "notes.txt"
    text.write_text("not an image\n")
    image = root / "digit.png"
    Image.fromarray(np.kron(np.eye(8, dtype=np.uint8) * 255, np.ones((4, 4), np.uint8))).save(image)
    one_class = root / "one_class" / "cats"
    one_class.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((16, 16), 40 * i, np.uint8)).save(one_class / f"{i}.png")
    bad_folder = root / "bad_folder"
    for label in ("a", "b"):
        (bad_folder / label).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((16, 16), 30 * i, np.uint8)).save(bad_folder / label / f"{i}.png")
    (bad_folder / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    truncated = root / "truncated_run"
    shutil.copytree(run, truncated)
    data = (truncated / "best.keras").read_bytes()
    (truncated / "best.keras").write_bytes(data[: len(data) // 3])
    bad_config = root / "bad_config_run"
    shutil.copytree(run, bad_config)
    (bad_config / "config.json").write_text("{\n")
    cards = {}
    for kind in ("card_list", "card_broken", "card_outside", "card_no_sha", "card_tampered"):
        folder = root / kind
        shutil.copytree(export, folder)
        card_path = folder / "model_card.json"
        card = json.loads(card_path.read_text())
        if kind == "card_list":
            card_path.write_text("[]")
        elif kind == "card_broken":
            card_path.write_text('{"formats": ')
        elif kind == "card_outside":
            (root / "outside").mkdir(exist_ok=True)
            shutil.copy(folder / "model_float32.tflite", root / "outside" / "evil.tflite")
            card["formats"]["float32"]["file"] = "../outside/evil.tflite"
            card_path.write_text(json.dumps(card))
        elif kind == "card_no_sha":
            del card["sha256"]["model_float32.tflite"]
            card_path.write_text(json.dumps(card))
        else:
            with open(folder / "model_float32.tflite", "ab") as file:
                file.write(b"\0")
        cards[kind] = str(folder)
    return dict(run=run, export=export, file=str(text), image=str(image), missing=str(root / "missing"),
                one_class=str(root / "one_class"), bad_folder=str(bad_folder), truncated_run=str(truncated),
                bad_config_run=str(bad_config), **cards)


def _filled(text, values):
    """`text` with its {placeholders} replaced (other braces, such as JSON's, kept)."""
    return re.sub(r"\{(\w+)\}", lambda match: values.get(match.group(1), match.group(0)), text)


@pytest.mark.parametrize("case, argv, expected", CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_a_clear_error(case, argv, expected, places, tmp_path, capsys):
    values = {**places, "tmp": str(tmp_path)}
    argv, expected = [_filled(part, values) for part in argv], _filled(expected, values)
    try:
        status, stdout, stderr = run_main(capsys, *argv)
    except SystemExit as exit_:  # argparse's errors exit directly.
        status, captured = exit_.code, capsys.readouterr()
        stdout, stderr = captured.out, captured.err
    assert status not in (0, None), f"{case}: exit status {status}\n{stdout[-1500:]}"
    assert "Traceback" not in stderr, f"{case}:\n{stderr[-3000:]}"
    assert expected in stderr, f"{case}: {expected!r} not in:\n{stderr[-1500:]}"


def test_a_second_process_on_a_run_directory_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "keras_cnns", "train", "lenet5", "--dataset", "digits", "--epochs", "40",
               "--out", str(out)]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (out / ".lock-owner.json").exists() and time.time() < deadline:
            time.sleep(0.2)
        assert (out / ".lock-owner.json").exists(), "the first process never locked its run directory"
        second = subprocess.run([*command[:-4], "--epochs", "4", "--lr", "0.01", "--out", str(out)],
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        assert f"in use by process {first.pid}" in second.stderr and "Traceback" not in second.stderr
    finally:
        first.kill()
        first.wait()
    # A lock left by a killed process does not block the next run (here in this process: no third start-up).
    status, _, stderr = run_main(capsys, *command[3:-3], "1", "--out", out, "--overwrite")
    assert status == 0, stderr[-2000:]


def test_a_held_search_folder_or_export_folder_is_refused(places, tmp_path, capsys):
    """As for a run directory (above, with two processes): a search job's folder and an export's `--out`."""
    from keras_cnns.locking import folder_lock, sibling_lock

    with folder_lock(tmp_path / "job", what="search job folder"):
        status, _, stderr = run_main(capsys, "tune", "vgg", "--dataset", "digits", "--max-trials", "1",
                                     "--out", tmp_path / "job")
    assert status == 2 and f"search job folder {tmp_path / 'job'} is in use by process {os.getpid()}" in stderr
    with sibling_lock(tmp_path / "export", what="export folder"):
        status, _, stderr = run_main(capsys, "export", places["run"], "--out", tmp_path / "export",
                                     "--formats", "float32")
    assert status == 2 and f"export folder {tmp_path / 'export'} is in use by process {os.getpid()}" in stderr
    assert not (tmp_path / "export").exists()
    # Once released, the same commands run.
    status, _, stderr = run_main(capsys, "export", places["run"], "--out", tmp_path / "export", "--formats", "float32")
    assert status == 0, stderr[-2000:]


def test_ctrl_c_says_how_to_resume(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "keras_cnns", "train", "lenet5", "--dataset", "digits", "--epochs", "40",
               "--out", str(out)]
    # Ctrl-C's default action back: a test runner's worker may ignore SIGINT, and children inherit that.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not (out / "history.csv").exists() and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "interrupted" in stderr and "Run the same command again to resume" in stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) <= 3, stderr[-2000:]


def test_a_ctrl_c_swallowed_on_its_way_still_stops_training():
    """JAX's garbage-collection callback can swallow the KeyboardInterrupt; the request is remembered."""
    import keras
    import numpy as np

    from keras_cnns import interrupts

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    batches = []

    class SwallowedCtrlC(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(batch)
            if batch == 2:
                try:
                    interrupts._handle_sigint(signal.SIGINT, None)
                except KeyboardInterrupt:
                    pass  # What an "Exception ignored" callback does.

    with interrupts.stop_on_ctrl_c(), pytest.raises(KeyboardInterrupt):
        model.fit(np.zeros((64, 4)), np.zeros((64, 2)), batch_size=4, epochs=2, verbose=0,
                  callbacks=[SwallowedCtrlC(), interrupts.stop_on_request_callback()])
    assert batches == [0, 1, 2]
    interrupts.raise_if_requested()  # Cleared when the block ends.


def test_a_ctrl_c_that_a_library_turned_into_another_error_still_stops_as_ctrl_c():
    """Seen under load: SIGINT inside TensorFlow's tracing of the data pipeline came out as a TypeError."""
    from keras_cnns import interrupts

    with pytest.raises(KeyboardInterrupt) as caught, interrupts.stop_on_ctrl_c():
        try:
            interrupts._handle_sigint(signal.SIGINT, None)
        except KeyboardInterrupt:
            raise TypeError("Failed to convert elements of (None, 1) to Tensor.")
    assert isinstance(caught.value.__cause__, TypeError)
    # Without a Ctrl-C, an error stays what it is.
    with pytest.raises(TypeError, match="a real bug"), interrupts.stop_on_ctrl_c():
        raise TypeError("a real bug")


def test_a_ctrl_c_swallowed_by_a_callback_prints_no_traceback():
    """Python reports an exception a callback swallowed ("Exception ignored in: ..."); a remembered Ctrl-C is quiet."""
    from keras_cnns import interrupts

    class RaisesWhenDeleted:  # Python passes what __del__ raises to sys.unraisablehook, as for a GC callback.
        def __init__(self, error):
            self.error = error

        def __del__(self):
            raise self.error

    reported = []
    saved = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: reported.append(unraisable.exc_value)
    try:
        with pytest.raises(KeyboardInterrupt), interrupts.stop_on_ctrl_c():
            RaisesWhenDeleted(ValueError("a real error in a callback"))
            try:
                interrupts._handle_sigint(signal.SIGINT, None)
            except KeyboardInterrupt as ctrl_c:
                RaisesWhenDeleted(ctrl_c)
            interrupts.raise_if_requested()
        assert [str(error) for error in reported] == ["a real error in a callback"]
    finally:
        sys.unraisablehook = saved


def test_messages_speak_in_flags_but_leave_paths_alone():
    from keras_cnns.cli import build_parser
    from keras_cnns.cli.flags import in_flags

    message = in_flags("runs/out_dir/a and /data/skip_bad_files/b: out_dir must be new; pass skip_bad_files=True.",
                       build_parser(), "train")
    assert message == "runs/out_dir/a and /data/skip_bad_files/b: --out must be new; pass --skip-bad-files."


def test_ctrl_c_under_overwrite_says_to_rerun_without_it(monkeypatch, capsys):
    """Rerun as it was, --overwrite would clear the epochs done; the hint says to leave it out."""
    import keras_cnns.train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(keras_cnns.train, "train", interrupted)
    status, _, stderr = run_main(capsys, "train", "lenet5", "--dataset", "digits", "--overwrite")
    assert status == 130 and "Run it again without --overwrite to resume" in stderr
    status, _, stderr = run_main(capsys, "train", "lenet5", "--dataset", "digits")
    assert status == 130 and "Run the same command again to resume" in stderr
