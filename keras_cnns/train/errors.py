"""Errors raised by the training loop."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite during training.

    Attributes:
        epoch: 0-based index of the epoch in which the loss diverged.
        batch: 0-based index of the batch, or None when the non-finite value
            was seen at the end of the epoch (e.g. in the validation loss).
        value: The non-finite value seen.
    """

    def __init__(self, message, *, epoch, batch, value):
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.value = value


class RunConfigMismatchError(ValueError):
    """A run directory holds a run whose configuration differs from the new one."""
