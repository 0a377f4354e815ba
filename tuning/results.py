"""The results of a search: a table of every trial, and two plots.

`results.csv` has one row per trial: its id, status, the process that ran
it, the objective, validation and training accuracy, parameter count, time,
memory, the reason of a failure, then every hyperparameter (empty where
inactive). `format_table` prints the same rows, best first;
`plot_accuracy_vs_params` and `plot_accuracy_vs_time` draw the validation
accuracy against parameter count and against search time.
"""

import csv
import io
import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from keras_cnns.train import atomic
from tuning.oracles import COMPLETED, failure_reason

# The first columns of results.csv; hyperparameters follow, in space order.
COLUMNS = ("trial_id", "status", "worker", "objective", "val_accuracy", "accuracy", "num_params",
           "epochs", "trial_seconds", "finished_seconds", "memory_mb", "reason")
# Extra metrics some searches log (a resource constraint).
OPTIONAL_METRICS = ("latency_ms", "size_kb")
HYPERBAND_KEYS = ("tuner/epochs", "tuner/initial_epoch", "tuner/bracket", "tuner/round", "tuner/trial_id")


def trial_rows(oracle, worker_logs=None):
    """One dict per trial of `oracle`, in trial order.

    Args:
        oracle: The search's oracle (its `trials`, `objective` and space).
        worker_logs: `{tuner_id: entries}` from `read_worker_logs`, for the
            worker and finishing time of each trial.

    Returns:
        A list of dicts with the keys of `COLUMNS`, optional metrics and
        hyperparameter names.
    """
    finished = _finish_times(worker_logs or {})
    rows = []
    for trial_id in sorted(oracle.trials):
        trial = oracle.trials[trial_id]
        metric = lambda name: _last_value(trial, name)  # noqa: E731
        worker, finished_at = finished.get(trial_id, (None, None))
        row = {
            "trial_id": trial_id,
            "status": trial.status,
            "worker": worker,
            "objective": trial.score if trial.status == COMPLETED else None,
            "val_accuracy": metric("val_accuracy"),
            "accuracy": metric("accuracy"),
            "num_params": _as_int(metric("num_params")),
            "epochs": _as_int(metric("epochs")),
            "trial_seconds": metric("trial_seconds"),
            "finished_seconds": finished_at,
            "memory_mb": metric("memory_mb"),
            "reason": failure_reason(trial) if trial.status not in (COMPLETED, "RUNNING") else None,
        }
        for name in OPTIONAL_METRICS:
            if trial.metrics.exists(name):
                row[name] = metric(name)
        row.update(trial.hyperparameters.values)
        rows.append(row)
    start = min((r["finished_seconds"] - (r["trial_seconds"] or 0) for r in rows
                 if r["finished_seconds"] is not None), default=None)
    for row in rows:
        if row["finished_seconds"] is not None:
            row["finished_seconds"] -= start
    return rows


def write_csv(rows, path, hyperparameter_names=()):
    """Writes the rows to `path` atomically; columns: `COLUMNS`, metrics, hyperparameters."""
    columns = list(COLUMNS) + [m for m in OPTIONAL_METRICS if any(m in row for row in rows)]
    names = [n for n in hyperparameter_names if n not in columns]
    names += sorted({key for row in rows for key in row} - set(columns) - set(names))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns + names, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: ("" if value is None else value) for key, value in row.items()})
    atomic.write_text(path, buffer.getvalue())


def format_table(rows, objective_name="val_accuracy"):
    """The rows as a text table, best first, failed trials last with their reason."""
    ranked = sorted(rows, key=lambda r: (r["objective"] is None, -(r["objective"] or 0.0)))
    score = objective_name != "val_accuracy"  # A separate column only when it differs.
    header = (f"{'rank':>4}  {'trial':>5}  {'status':<9} {'val_acc':>7}  "
              + (f"{objective_name:>7}  " if score else "")
              + f"{'params':>10}  {'epochs':>6}  {'seconds':>7}  hyperparameters / reason")
    lines = [header, "-" * len(header)]
    skip = set(COLUMNS) | set(OPTIONAL_METRICS) | set(HYPERBAND_KEYS)
    for rank, row in enumerate(ranked, start=1):
        detail = row["reason"] if row["reason"] else " ".join(
            f"{key}={_short(value)}" for key, value in row.items() if key not in skip)
        lines.append(
            f"{rank:>4}  {row['trial_id']:>5}  {row['status']:<9} {_fmt(row['val_accuracy'], 7)}  "
            + (f"{_fmt(row['objective'], max(7, len(objective_name)))}  " if score else "")
            + f"{_fmt_int(row['num_params'], 10)}  {_fmt_int(row['epochs'], 6)}  "
            f"{_fmt(row['trial_seconds'], 7, '.1f')}  {detail}"
        )
    return "\n".join(lines)


def plot_accuracy_vs_params(rows, path):
    """Validation accuracy of each completed trial against its parameter count (log scale)."""
    done = [r for r in rows if r["status"] == COMPLETED and r["val_accuracy"] is not None
            and r["num_params"]]
    figure, axes = _figure()
    axes.scatter([r["num_params"] for r in done], [r["val_accuracy"] for r in done], alpha=0.7)
    best = _best(done)
    if best is not None:
        axes.scatter([best["num_params"]], [best["val_accuracy"]], marker="*", s=200, color="red",
                     label=f"best: trial {best['trial_id']}")
        axes.legend()
    if done:
        axes.set_xscale("log")
    axes.set_xlabel("parameters")
    axes.set_ylabel("validation accuracy")
    axes.set_title(f"Accuracy against size ({len(done)} trials)")
    atomic.save_figure(figure, path)


def plot_accuracy_vs_time(rows, path):
    """Validation accuracy of each trial against the search time at its end, with the best so far."""
    done = sorted((r for r in rows if r["status"] == COMPLETED and r["val_accuracy"] is not None
                   and r["finished_seconds"] is not None), key=lambda r: r["finished_seconds"])
    figure, axes = _figure()
    minutes = [r["finished_seconds"] / 60 for r in done]
    accuracies = [r["val_accuracy"] for r in done]
    axes.scatter(minutes, accuracies, alpha=0.7, label="trial")
    best_so_far = [max(accuracies[: i + 1]) for i in range(len(accuracies))]
    axes.step(minutes, best_so_far, where="post", color="red", label="best so far")
    axes.set_xlabel("search time at the end of the trial (minutes)")
    axes.set_ylabel("validation accuracy")
    axes.set_title(f"Accuracy against time ({len(done)} trials)")
    if done:
        axes.legend()
    atomic.save_figure(figure, path)


def summarize(rows, elapsed_seconds):
    """Counts, trials per hour and the best trial of a results table."""
    completed = [r for r in rows if r["status"] == COMPLETED]
    best = max(completed, key=lambda r: r["objective"], default=None)
    hours = elapsed_seconds / 3600 if elapsed_seconds else None
    return {
        "trials": len(rows),
        "completed": len(completed),
        "failed": sum(r["status"] == "FAILED" for r in rows),
        "search_seconds": elapsed_seconds,
        "trials_per_hour": len(completed) / hours if hours else None,
        "best_trial": best["trial_id"] if best else None,
        "best_objective": best["objective"] if best else None,
        "best_val_accuracy": best["val_accuracy"] if best else None,
    }


def _finish_times(worker_logs):
    """`{trial_id: (worker, finished_at)}` of each trial's completing run."""
    times = {}
    for worker, entries in worker_logs.items():
        for entry in entries:
            if entry.get("finished_at") is not None and entry["status"] in (COMPLETED, "FAILED"):
                times[entry["trial_id"]] = (worker, entry["finished_at"])
    return times


def _last_value(trial, name):
    if not trial.metrics.exists(name):
        return None
    value = trial.metrics.get_last_value(name)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _best(rows):
    return max(rows, key=lambda r: r["val_accuracy"], default=None)


def _figure():
    figure = Figure(figsize=(6.5, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    axes.grid(alpha=0.3)
    return figure, axes


def _as_int(value):
    return None if value is None else int(round(value))


def _fmt(value, width, spec=".4f"):
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"


def _fmt_int(value, width):
    return f"{'-':>{width}}" if value is None else f"{value:>{width},}"


def _short(value):
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
