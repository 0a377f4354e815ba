"""Honest confidence: temperature scaling and the expected calibration error.

A network trained with cross-entropy is often over-confident: among the
images it calls a class with probability 0.95, fewer than 95% are that class.
Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural
Networks") divides the logits by one number `T`, fitted on held-out images by
minimizing the negative log-likelihood; the predicted class does not change,
only how sure the model says it is. The expected calibration error (ECE, the
paper's 15 equal-width confidence bins) measures the gap between confidence
and accuracy, before and after.

The networks here end in a softmax, so the logits are the log-probabilities
up to a constant per image: `softmax(log(p) / T)` is the calibrated output,
which `calibrate` computes from probabilities. An export fits `T`
(`fit_calibration`) and records it in the model card; `TFLiteClassifier`
applies it to the exported files' outputs, and the mobile files hold it in
their graph. Only numpy is needed.
"""

import dataclasses

import numpy as np

ECE_BINS = 15
# T is searched in [exp(-LOG_RANGE), exp(LOG_RANGE)].
LOG_RANGE = 4.0
# Held-out images a temperature is fitted on, at least.
MIN_IMAGES = 100
_EPSILON = 1e-12


@dataclasses.dataclass(frozen=True)
class Calibration:
    """A fitted temperature and what it did.

    Attributes:
        temperature: `T`; above 1 the model was over-confident.
        ece_before: ECE of the raw probabilities on the evaluation images.
        ece_after: ECE after temperature scaling, on the same images.
        fitted_on: Where the fitting images came from, in words.
        evaluated_on: Where the ECE images came from, in words.
        num_fitted: Images `T` was fitted on.
        num_evaluated: Images the ECE was measured on.
    """

    temperature: float
    ece_before: float
    ece_after: float
    fitted_on: str
    evaluated_on: str
    num_fitted: int
    num_evaluated: int

    def to_dict(self):
        return {**dataclasses.asdict(self), "ece_bins": ECE_BINS, "method": "temperature scaling (Guo et al. 2017)"}


def calibrate(probabilities, temperature):
    """Probabilities at temperature `T`: `softmax(log(p) / T)`, row by row.

    Args:
        probabilities: Array `(N, classes)` of softmax outputs.
        temperature: A positive number; 1 returns the input (as float32).

    Returns:
        float32 array `(N, classes)`.
    """
    probabilities = np.asarray(probabilities, np.float64)
    if temperature == 1:
        return probabilities.astype(np.float32)
    logits = np.log(np.maximum(probabilities, _EPSILON)) / float(temperature)
    logits -= logits.max(axis=-1, keepdims=True)
    scaled = np.exp(logits)
    return (scaled / scaled.sum(axis=-1, keepdims=True)).astype(np.float32)


def expected_calibration_error(probabilities, labels, bins=ECE_BINS):
    """ECE: the mean over equal-width confidence bins of |accuracy - confidence|, weighted by bin size."""
    probabilities = np.asarray(probabilities, np.float64)
    labels = np.asarray(labels).reshape(-1)
    confidence = probabilities.max(axis=-1)
    correct = probabilities.argmax(axis=-1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


def fit_temperature(probabilities, labels):
    """The `T` that minimizes the negative log-likelihood of `labels` (golden-section search on log T).

    Raises:
        ValueError: With fewer than `MIN_IMAGES` images, or mismatched lengths.
    """
    probabilities = np.asarray(probabilities, np.float64)
    labels = np.asarray(labels).reshape(-1).astype(int)
    if len(probabilities) != len(labels):
        raise ValueError(f"{len(probabilities)} outputs but {len(labels)} labels; pass one label per image.")
    if len(labels) < MIN_IMAGES:
        raise ValueError(
            f"A temperature fitted on {len(labels)} images would be noise; it needs at least {MIN_IMAGES} "
            "held-out images."
        )
    log_probabilities = np.log(np.maximum(probabilities, _EPSILON))

    def loss(log_temperature):
        scaled = log_probabilities / np.exp(log_temperature)
        scaled -= scaled.max(axis=1, keepdims=True)
        log_normalizer = np.log(np.exp(scaled).sum(axis=1))
        return float(np.mean(log_normalizer - scaled[np.arange(len(labels)), labels]))

    low, high = -LOG_RANGE, LOG_RANGE
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    for _ in range(80):  # The interval shrinks by 0.618 each step: far below float precision of T.
        left, right = high - ratio * (high - low), low + ratio * (high - low)
        if loss(left) <= loss(right):
            high = right
        else:
            low = left
    return float(np.exp((low + high) / 2.0))


def calibration_split(probabilities, labels, seed=0):
    """Two halves of held-out images, stratified by class: one to fit `T`, one to measure the ECE.

    Returns:
        `(fit_indices, evaluation_indices)`.
    """
    labels = np.asarray(labels).reshape(-1)
    rng = np.random.default_rng(seed)
    fit, evaluate = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        fit.append(members[: len(members) // 2])
        evaluate.append(members[len(members) // 2 :])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(evaluate))


def fit_calibration(validation, test):
    """Fits `T` on held-out images and measures the ECE before and after.

    Args:
        validation: `(probabilities, labels, description)` of the validation
            split, or None when the run held none out.
        test: `(probabilities, labels, description)` of the test split.

    Returns:
        A `Calibration`: fitted on the validation split and measured on the
        test split; without a validation split, fitted on one half of the
        test split and measured on the other (as Guo et al. split ImageNet's
        validation set), which leaves the test accuracy untouched (`T` does
        not change the predicted class).
    """
    test_probabilities, test_labels, test_origin = test
    if validation is not None and len(validation[1]) >= MIN_IMAGES:
        fit_probabilities, fit_labels, fit_origin = validation
        eval_probabilities, eval_labels, eval_origin = test_probabilities, test_labels, test_origin
    else:
        fit_index, eval_index = calibration_split(test_probabilities, test_labels)
        fit_probabilities, fit_labels = test_probabilities[fit_index], np.asarray(test_labels)[fit_index]
        eval_probabilities, eval_labels = test_probabilities[eval_index], np.asarray(test_labels)[eval_index]
        fit_origin = f"one half of {test_origin} (stratified, seed 0; no validation split was held out)"
        eval_origin = f"the other half of {test_origin}"
    temperature = fit_temperature(fit_probabilities, fit_labels)
    return Calibration(
        temperature=temperature,
        ece_before=expected_calibration_error(eval_probabilities, eval_labels),
        ece_after=expected_calibration_error(calibrate(eval_probabilities, temperature), eval_labels),
        fitted_on=fit_origin, evaluated_on=eval_origin,
        num_fitted=len(fit_labels), num_evaluated=len(eval_labels),
    )
