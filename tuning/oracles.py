"""Keras Tuner's oracles with what a long search job needs on top.

`JobOracle` adds, to any Keras Tuner oracle:

* a time budget: once `budget_seconds` of search time are spent (summed
  over every session of a resumed search), no new trial starts; trials
  already running finish;
* a clear stop after too many failed trials in a row: Keras Tuner raises
  inside the oracle (in the chief, in distributed mode, where no worker
  sees it); here the oracle stops handing out trials and records why, so
  every worker exits and the job reports the reason;
* checkpoint pruning: after each trial, only the checkpoints of the
  `keep_checkpoints` best trials (and those Hyperband may still continue)
  stay on disk.

The oracle runs where the trials are decided (the chief, in distributed
mode), so all three work for a single process and for chief and workers.
"""

import glob
import os
import time

import keras_tuner
from keras_tuner.oracles import BayesianOptimizationOracle, HyperbandOracle, RandomSearchOracle

from tuning.config import TUNERS

COMPLETED = "COMPLETED"
FAILED = "FAILED"


class JobOracle:
    """Mixin over a Keras Tuner oracle: time budget, failure stop, checkpoint pruning.

    Args:
        budget_seconds: Search time after which no trial starts, or None.
        keep_checkpoints: Number of best trials whose checkpoints are kept.
        **kwargs: The Keras Tuner oracle's arguments.
    """

    def __init__(self, *, budget_seconds=None, keep_checkpoints=3, **kwargs):
        super().__init__(**kwargs)
        self.budget_seconds = budget_seconds
        self.keep_checkpoints = keep_checkpoints
        self.stop_reason = None
        self.stopped_on_failures = False
        self._spent_before = 0.0
        self._session_start = time.monotonic()

    def elapsed_seconds(self):
        """Search time so far, over every session of this search."""
        return self._spent_before + time.monotonic() - self._session_start

    def budget_spent(self):
        return self.budget_seconds is not None and self.elapsed_seconds() >= self.budget_seconds

    def populate_space(self, trial_id):
        if self.stop_reason is None:
            # Also stops a resumed search that had stopped on failures.
            self._check_consecutive_failures()
        if self.stop_reason is None and self.budget_spent():
            self.stop_reason = (f"the time budget of {self.budget_seconds / 60:g} minutes is spent "
                                f"({self.elapsed_seconds() / 60:.1f} minutes of search)")
            self.save()  # Records the spent time, so that a rerun stops too.
        if self.stop_reason is not None:
            return {"status": "STOPPED"}
        return super().populate_space(trial_id)

    def _check_consecutive_failures(self):
        failures = trailing_failures(self)
        if failures and failures >= self.max_consecutive_failed_trials and self.stop_reason is None:
            last = self.trials[self.end_order[-1]]
            self.stopped_on_failures = True
            self.stop_reason = (
                f"{failures} trials in a row failed (the limit is {self.max_consecutive_failed_trials}); "
                f"the last one (trial {last.trial_id}) failed with: {failure_reason(last)}"
            )

    @keras_tuner.synchronized
    def end_trial(self, trial):
        super().end_trial(trial)
        self.prune_checkpoints()

    def prune_checkpoints(self):
        """Deletes the checkpoints of trials that can no longer be needed.

        Kept: the `keep_checkpoints` best completed trials, running trials and
        the trials they continue from, and every trial of a Hyperband bracket
        that is not finished (its best trials are continued later).

        Returns:
            The deleted paths.
        """
        completed = [t for t in self.trials.values() if t.status == COMPLETED and t.score is not None]
        completed.sort(key=lambda t: t.score, reverse=self.objective.direction == "max")
        keep = {t.trial_id for t in completed[: self.keep_checkpoints]}
        for trial in self.ongoing_trials.values():
            keep.add(trial.trial_id)
            keep.add(trial.hyperparameters.values.get("tuner/trial_id"))
        for bracket in getattr(self, "_brackets", []):
            for round_info in bracket["rounds"]:
                keep.update(info["id"] for info in round_info)
                keep.update(info["past_id"] for info in round_info)
        removed = []
        for trial_id in self.trials:
            if trial_id in keep:
                continue
            pattern = os.path.join(glob.escape(self._get_trial_dir(trial_id)), "checkpoint*")
            for path in glob.glob(pattern):
                os.remove(path)
                removed.append(path)
        return removed

    def get_state(self):
        state = super().get_state()
        state["elapsed_seconds"] = self.elapsed_seconds()
        return state

    def set_state(self, state):
        super().set_state(state)
        self._spent_before = float(state.get("elapsed_seconds", 0.0))
        self._session_start = time.monotonic()


class RandomSearchJobOracle(JobOracle, RandomSearchOracle):
    """`RandomSearchOracle` with `JobOracle`'s budget, failure stop and pruning."""


class HyperbandJobOracle(JobOracle, HyperbandOracle):
    """`HyperbandOracle` with `JobOracle`'s budget, failure stop and pruning."""


class BayesianJobOracle(JobOracle, BayesianOptimizationOracle):
    """`BayesianOptimizationOracle` with `JobOracle`'s budget, failure stop and pruning."""


def make_oracle(tuner, objective, *, max_trials=None, epochs=None, hyperband_factor=3, seed=0,
                budget_seconds=None, keep_checkpoints=3, max_consecutive_failed_trials=3):
    """The oracle of a search.

    Args:
        tuner: `"random"`, `"hyperband"` or `"bayesian"`.
        objective: A `keras_tuner.Objective`.
        max_trials: Most trials (for Hyperband: a cap on its brackets' trials).
        epochs: Hyperband's `max_epochs` (the most a trial trains).
        hyperband_factor: Hyperband's reduction factor.
        seed: Seed of the oracle (an int >= 0; the same seed draws the same trials).
        budget_seconds: Time budget, or None.
        keep_checkpoints: Checkpoints kept.
        max_consecutive_failed_trials: Failures in a row that stop the search.

    Returns:
        A `JobOracle`.

    Raises:
        ValueError: For an unknown tuner.
    """
    # Keras Tuner draws a random seed for seed=0 (`seed or random...`): shift by one.
    common = dict(objective=objective, seed=seed + 1, budget_seconds=budget_seconds,
                  keep_checkpoints=keep_checkpoints,
                  max_consecutive_failed_trials=max_consecutive_failed_trials)
    if tuner == "random":
        return RandomSearchJobOracle(max_trials=max_trials, **common)
    if tuner == "bayesian":
        return BayesianJobOracle(max_trials=max_trials, **common)
    if tuner == "hyperband":
        # With a budget, Hyperband sweeps its brackets again until time is up.
        oracle = HyperbandJobOracle(max_epochs=epochs, factor=hyperband_factor,
                                    hyperband_iterations=None if budget_seconds else 1, **common)
        oracle.max_trials = max_trials
        return oracle
    raise ValueError(f"Unknown tuner {tuner!r}; choose one of {list(TUNERS)}.")


def trailing_failures(oracle):
    """Number of trials that failed in a row at the end of the search so far."""
    count = 0
    for trial_id in reversed(oracle.end_order):
        if oracle.trials[trial_id].status != FAILED:
            break
        count += 1
    return count


def failure_reason(trial):
    """One line saying why a failed trial failed (the last line of its traceback)."""
    lines = [line.strip() for line in (trial.message or "").strip().splitlines() if line.strip()]
    if not lines:
        return "no reason recorded"
    reason = lines[-1]
    prefix = "FailedTrialError: "
    return reason.split(prefix, 1)[1] if prefix in reason else reason
