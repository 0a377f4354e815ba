"""Training on several processes (machines) with Keras 3's distribution API.

One machine with several devices needs nothing from here: pass a
`tf.distribute.MirroredStrategy` to `train(strategy=...)` on the TensorFlow
backend. Several processes, on one machine or many, train one shared model
with `keras.distribution.DataParallel` on the JAX backend, connected by
`jax.distributed.initialize` (through `keras.distribution.initialize`):

    # on every machine, with its own process id:
    KERAS_BACKEND=jax keras-cnns train resnet20 --dataset fashion_mnist \\
        --coordinator 10.0.0.1:1234 --num-processes 2 --process-id 0

Every process reads the whole dataset and builds the same pipelines with the
same seed; Keras shards each global batch across the processes, so the
processes see different examples and keep identical weights.
TensorFlow's `MultiWorkerMirroredStrategy` is not used: Keras 3's `fit` fails
under it (keras-team/keras#20585).

Process 0, the chief, writes the run directory; the others only read its
backup when a run resumes, so `out_dir` must be on storage every process can
read (on one machine, any folder).
"""

import contextlib
import dataclasses
import os

import keras

# Keras' own environment variables for `keras.distribution.initialize`.
ENV_JOB_ADDRESSES = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
ENV_NUM_PROCESSES = "KERAS_DISTRIBUTION_NUM_PROCESSES"
ENV_PROCESS_ID = "KERAS_DISTRIBUTION_PROCESS_ID"

_connected = None  # The ProcessCluster this process joined, if any.


@dataclasses.dataclass(frozen=True)
class ProcessCluster:
    """Where this process stands in a multi-process training job.

    Attributes:
        coordinator_address: `host:port` of process 0, which every process
            can reach (e.g. `"10.0.0.1:1234"`, or `"localhost:1234"` for
            processes on one machine).
        num_processes: Number of processes in the job, at least 1.
        process_id: This process's id, in `[0, num_processes)`; 0 is the chief.

    Example:

    ```python
    cluster = ProcessCluster("localhost:1234", num_processes=2, process_id=0)
    train(config, cluster=cluster)
    ```
    """

    coordinator_address: str
    num_processes: int
    process_id: int

    def __post_init__(self):
        address = self.coordinator_address
        host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
        if not host or not port.isdigit():
            raise ValueError(
                f"coordinator_address must be 'host:port' (the address of process 0); received "
                f"{address!r}. Pass for example 'localhost:1234' or '10.0.0.1:1234'."
            )
        if not isinstance(self.num_processes, int) or isinstance(self.num_processes, bool) \
                or self.num_processes < 1:
            raise ValueError(
                f"num_processes must be a positive int; received {self.num_processes!r}. "
                "Pass the number of processes of the job, e.g. 2."
            )
        if not isinstance(self.process_id, int) or isinstance(self.process_id, bool) \
                or not 0 <= self.process_id < self.num_processes:
            raise ValueError(
                f"process_id must be an int in [0, {self.num_processes}); received "
                f"{self.process_id!r}. Give each process its own id; 0 is the chief."
            )

    @property
    def is_chief(self):
        """Whether this is process 0, which writes the run directory."""
        return self.process_id == 0

    @classmethod
    def from_env(cls, environ=None):
        """The cluster described by Keras' environment variables, or None.

        Reads `KERAS_DISTRIBUTION_JOB_ADDRESSES` (comma-separated addresses;
        the first is the coordinator), `KERAS_DISTRIBUTION_NUM_PROCESSES`
        and `KERAS_DISTRIBUTION_PROCESS_ID`, the variables
        `keras.distribution.initialize` reads.

        Raises:
            ValueError: If only some of the variables are set, or a value is
                not valid.
        """
        environ = os.environ if environ is None else environ
        names = (ENV_JOB_ADDRESSES, ENV_NUM_PROCESSES, ENV_PROCESS_ID)
        values = {name: environ.get(name) for name in names}
        if not any(values.values()):
            return None
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise ValueError(
                f"Multi-process training needs all of {list(names)}; {missing} are not set "
                f"(received {values}). Set all three, or none for a single process."
            )
        try:
            num_processes = int(values[ENV_NUM_PROCESSES])
            process_id = int(values[ENV_PROCESS_ID])
        except ValueError as error:
            raise ValueError(
                f"{ENV_NUM_PROCESSES} and {ENV_PROCESS_ID} must be integers; received "
                f"{values[ENV_NUM_PROCESSES]!r} and {values[ENV_PROCESS_ID]!r}."
            ) from error
        coordinator = values[ENV_JOB_ADDRESSES].split(",")[0].strip()
        return cls(coordinator, num_processes, process_id)


def connect(cluster):
    """Joins the multi-process job (`jax.distributed.initialize`).

    Call once per process, before any model is built. Calling it again with
    the same cluster does nothing. On CPUs, the processes exchange gradients
    through Gloo (`jax_cpu_collectives_implementation="gloo"`); on GPUs and
    TPUs JAX uses their own collectives.

    Args:
        cluster: A `ProcessCluster`.

    Raises:
        RuntimeError: If the Keras backend is not JAX, or this process
            already joined another cluster.
    """
    global _connected
    if keras.backend.backend() != "jax":
        raise RuntimeError(
            f"Multi-process training runs on the JAX backend (keras.distribution.DataParallel); "
            f"the Keras backend is {keras.backend.backend()!r}. Start every process with "
            "KERAS_BACKEND=jax. On one machine with several devices, TensorFlow's "
            "MirroredStrategy (train(strategy=...)) needs no cluster."
        )
    if _connected is not None:
        if _connected != cluster:
            raise RuntimeError(
                f"This process already joined {_connected}; it cannot join {cluster} too. "
                "Start a new process for another job."
            )
        return
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    keras.distribution.initialize(
        job_addresses=cluster.coordinator_address,
        num_processes=cluster.num_processes,
        process_id=cluster.process_id,
    )
    _connected = cluster


def data_parallel_scope():
    """A context in which models are built and trained by all processes together.

    Inside it, `keras.distribution.DataParallel` over every device of every
    process is the current distribution: variables are replicated, and
    `fit` shards each global batch of a `tf.data.Dataset` across the
    processes. Outside it, a process runs models by itself (the chief
    evaluates the best model alone, with no collective to wait for).
    """
    return keras.distribution.DataParallel().scope()


@contextlib.contextmanager
def process_local():
    """A context in which new variables live on this process alone.

    For work one process does by itself while the others train on, such as
    the chief saving a checkpoint: inside `data_parallel_scope`, Keras would
    create any new variable (saving builds a reference optimizer) on every
    process at once, which the other processes never join. Does nothing
    special when no distribution is set.
    """
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)
