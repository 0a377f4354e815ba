"""Deterministic, stratified selection of examples by index.

Every split in the data package (validation holdout, test holdout for sources
without a test set, the `limit` subset) goes through `stratified_sample`, so
the same seed always picks the same examples and each class keeps its share.
"""

import numpy as np

# Separate random streams per purpose, so that changing `limit` does not move
# the validation split of the examples that remain, and vice versa.
STREAM_VALIDATION = 1
STREAM_TEST = 2
STREAM_LIMIT = 3


def stratified_sample(labels, count, seed, stream=0):
    """Picks `count` indices so that each class keeps its share of `labels`.

    Class quotas are `count * class_size / len(labels)`, rounded down, with the
    remaining picks going to the classes with the largest remainders (ties to
    the lower class id), so exactly `count` indices come back.

    Args:
        labels: 1-D integer array of class ids.
        count: How many indices to pick, `0 <= count <= len(labels)`.
        seed: Integer seed; the same seed and labels give the same indices.
        stream: Integer separating independent uses of the same seed.

    Returns:
        Sorted int64 array of `count` distinct indices into `labels`.

    Raises:
        ValueError: If `count` is out of range.
    """
    labels = np.asarray(labels)
    if not 0 <= count <= len(labels):
        raise ValueError(
            f"Cannot pick {count} examples out of {len(labels)}. Ask for "
            f"between 0 and {len(labels)}."
        )
    rng = np.random.default_rng([stream, seed])
    classes, class_sizes = np.unique(labels, return_counts=True)
    quotas = _largest_remainder_quotas(class_sizes, count)
    picked = []
    for class_id, quota in zip(classes, quotas):
        members = np.flatnonzero(labels == class_id)
        picked.append(rng.permutation(members)[:quota])
    if not picked:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(picked)).astype(np.int64)


def holdout_split(labels, fraction, seed, stream=STREAM_VALIDATION):
    """Splits indices into a kept part and a stratified holdout part.

    Args:
        labels: 1-D integer array of class ids.
        fraction: Share of examples to hold out, in `[0, 1)`; the holdout size
            is `round(fraction * len(labels))`.
        seed: Integer seed; the same seed gives the same split.
        stream: Integer separating independent uses of the same seed.

    Returns:
        `(kept_indices, holdout_indices)`: sorted, disjoint, and together
        covering `range(len(labels))`.

    Raises:
        ValueError: If `fraction` is outside `[0, 1)`.

    Example:

    ```python
    train_idx, val_idx = holdout_split(labels, fraction=0.1, seed=0)
    ```
    """
    if not 0 <= fraction < 1:
        raise ValueError(
            f"The holdout fraction must be in [0, 1); received {fraction}. "
            "Pass for example 0.1 to hold out 10% of the examples."
        )
    labels = np.asarray(labels)
    holdout = stratified_sample(
        labels, int(round(fraction * len(labels))), seed, stream
    )
    kept = np.setdiff1d(np.arange(len(labels)), holdout, assume_unique=True)
    return kept.astype(np.int64), holdout


def _largest_remainder_quotas(class_sizes, count):
    total = int(class_sizes.sum())
    if total == 0:
        return np.zeros_like(class_sizes)
    exact = class_sizes * (count / total)
    quotas = np.floor(exact).astype(np.int64)
    shortfall = count - int(quotas.sum())
    # Stable sort keeps ties in class order, which keeps the result seed-only.
    by_remainder = np.argsort(-(exact - quotas), kind="stable")
    quotas[by_remainder[:shortfall]] += 1
    return np.minimum(quotas, class_sizes)
