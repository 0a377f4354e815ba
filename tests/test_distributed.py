"""One run shared by two processes: Keras' DataParallel on JAX, on loopback.

Each process runs `keras-cnns train` as a user would, with its own
`--process-id`; a callback passed through `train` dumps each process's final
weights, so the test can check that both processes end with one and the same
model, and that only the chief wrote the run directory. (The MirroredStrategy
test, for several devices of one machine, is in test_train.py.)
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import free_port

from keras_cnns.train import ProcessCluster

pytest.importorskip("jax", reason="the multi-process test needs JAX (pip install -e '.[dev]')")

# Runs train() in one process of the job and saves its final weights.
PROCESS = """
import json, sys
import numpy as np
import keras
from keras_cnns.train import ProcessCluster, TrainConfig, train

config = TrainConfig.from_dict(json.loads(sys.argv[1]))
cluster = ProcessCluster(sys.argv[2], num_processes=2, process_id=int(sys.argv[3]))

class SaveFinalWeights(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        weights = [np.asarray(w) for w in self.model.get_weights()]
        np.savez(sys.argv[4], *weights)
        print("STEPS", int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)))

result = train(config, cluster=cluster, verbose=0, callbacks=[SaveFinalWeights()])
print("METRICS", json.dumps(result.metrics))
"""


def start_process(config, address, process_id, weights_path):
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PROCESS), json.dumps(config), address,
         str(process_id), str(weights_path)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def tagged_line(stdout, tag):
    return next(line[len(tag) + 1:] for line in stdout.splitlines() if line.startswith(tag + " "))


def test_two_processes_train_one_shared_model(tmp_path):
    out_dir = tmp_path / "run"
    config = dict(model="lenet5", dataset="digits", epochs=2, batch_size=64, optimizer="adam",
                  learning_rate=3e-3, weight_decay=0.0, label_smoothing=0.0, warmup_epochs=0,
                  model_kwargs={"width_multiplier": 0.5}, out_dir=str(out_dir))
    address = f"localhost:{free_port()}"
    processes = [start_process(config, address, i, tmp_path / f"weights{i}.npz") for i in (0, 1)]
    outputs = []
    for process in processes:
        try:
            stdout, stderr = process.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise
        assert process.returncode == 0, stderr[-3000:]
        outputs.append(stdout)

    chief, worker = (np.load(tmp_path / f"weights{i}.npz") for i in (0, 1))
    assert len(chief.files) == len(worker.files) > 0
    for name in chief.files:
        np.testing.assert_array_equal(chief[name], worker[name])

    # Both processes made the steps of the global batch, not of half of it:
    # digits leaves 1,293 training images, 20 full batches of 64 per epoch.
    steps = [int(tagged_line(stdout, "STEPS")) for stdout in outputs]
    assert steps == [2 * (1293 // 64)] * 2

    metrics = json.loads(tagged_line(outputs[0], "METRICS"))
    assert metrics["num_replicas"] == 2 and metrics["epochs_run"] == 2
    assert metrics["test_accuracy"] > 0.5  # Ten classes: chance is 0.1.
    assert tagged_line(outputs[1], "METRICS") == "null"  # Only the chief evaluates.
    for name in ("config.json", "best.keras", "metrics.json", "history.csv"):
        assert (out_dir / name).is_file()


@pytest.mark.parametrize("kwargs, message", [
    (dict(coordinator_address="localhost", num_processes=2, process_id=0), "host:port"),
    (dict(coordinator_address="localhost:1234", num_processes=0, process_id=0), "num_processes"),
    (dict(coordinator_address="localhost:1234", num_processes=2, process_id=2), r"\[0, 2\)"),
])
def test_cluster_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ProcessCluster(**kwargs)


def test_cluster_from_keras_environment_variables():
    environ = {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234,10.0.0.2:1234",
               "KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_PROCESS_ID": "1"}
    assert ProcessCluster.from_env(environ) == ProcessCluster("10.0.0.1:1234", 2, 1)
    assert ProcessCluster.from_env({}) is None
    with pytest.raises(ValueError, match="KERAS_DISTRIBUTION_PROCESS_ID"):
        ProcessCluster.from_env({"KERAS_DISTRIBUTION_JOB_ADDRESSES": "localhost:1234",
                                 "KERAS_DISTRIBUTION_NUM_PROCESSES": "2"})


def test_a_cluster_on_the_tensorflow_backend_is_refused_clearly(tmp_path):
    import keras

    from keras_cnns.train import TrainConfig, train

    if keras.backend.backend() != "tensorflow":
        pytest.skip("checks the refusal on the TensorFlow backend")

    config = TrainConfig(model="lenet5", dataset="digits", epochs=1, out_dir=str(tmp_path / "run"))
    with pytest.raises(RuntimeError, match="KERAS_BACKEND=jax"):
        train(config, cluster=ProcessCluster("localhost:1234", 2, 0), verbose=0)
