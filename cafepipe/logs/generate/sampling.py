"""Integer-exact sampling helpers: numpy draws in [0, 1) become integers the same way anywhere.

Every random draw of the generator is a float from numpy's PCG64 bit stream (stable across
platforms and versions); only the exact operations here turn draws into integer choices, so
the same seed gives the same lines on any machine.
"""

from __future__ import annotations

import math

import numpy as np

QUANTILES = 4096  # rows of a quantile table


def geometric_table(mean: float) -> np.ndarray:
    """Integer quantiles of a geometric distribution on 0, 1, 2, … with this mean."""
    if mean <= 0:
        return np.zeros(QUANTILES, dtype=np.int64)
    p = 1 / (1 + mean)
    values = [
        math.floor(math.log(1 - (i + 0.5) / QUANTILES) / math.log(1 - p)) for i in range(QUANTILES)
    ]
    return np.array(values, dtype=np.int64)


def exponential_table(mean_ms: float, min_ms: int) -> np.ndarray:
    """Integer quantiles (ms) of min + an exponential with the given mean."""
    values = [
        min_ms + round(-(mean_ms - min_ms) * math.log(1 - (i + 0.5) / QUANTILES))
        for i in range(QUANTILES)
    ]
    return np.array(values, dtype=np.int64)


def pick(table: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The table's row for each draw: a quantile table turns draws into its distribution."""
    picked: np.ndarray = table[(u * len(table)).astype(np.int64)]
    return picked


def choose(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index drawn with weights given as a cumulative array."""
    index: np.ndarray = np.searchsorted(cum, u * cum[-1], side="right")
    return index


def allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split `total` lines over slices in proportion to integer weights; sums exactly."""
    if total == 0 or weights.sum() == 0:
        counts = np.zeros(len(weights), dtype=np.int64)
        if total:
            counts[-1] = total
        return counts
    cum = np.cumsum(weights).astype(np.float64)
    cut = np.floor(total * (cum / cum[-1])).astype(np.int64)
    return np.diff(cut, prepend=0)


def segments(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For items of these lengths laid end to end: owner of each element, position in it."""
    owner = np.repeat(np.arange(len(lengths)), lengths)
    first = np.cumsum(lengths) - lengths
    return owner, np.arange(len(owner)) - first[owner]


def within(gaps: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Cumulative sum of gaps restarting at each owner (owners are contiguous, ascending)."""
    total = np.cumsum(gaps)
    starts = np.flatnonzero(np.diff(owner, prepend=-1))
    base = np.repeat(total[starts] - gaps[starts], np.diff(np.append(starts, len(owner))))
    restarted: np.ndarray = total - base
    return restarted
