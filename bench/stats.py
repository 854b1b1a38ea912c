"""The one statistic the verdicts rest on: a distribution-free 95% interval of a median.

With m samples sorted, the interval runs from the k-th smallest to the k-th largest, k the
largest with 2·P(Binomial(m, ½) < k) ≤ 5% (the sign-test interval): it assumes nothing about
the shape of the noise, only that the samples are independent. It needs m ≥ 6 (with 6 it is
[min, max], 96.9%). Callers: ``bench.report``, ``bench.startup``.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

#: Confidence of the intervals.
CONFIDENCE = 0.95


def median_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """The distribution-free 95% interval of the median of ``values`` (None: too few)."""
    m = len(values)
    xs = sorted(values)
    k = 0
    cumulative = 0.0
    for j in range(m):
        cumulative += comb(m, j) / 2**m
        if 2 * cumulative > 1 - CONFIDENCE:
            break
        k = j + 1
    if k == 0:
        return None
    return xs[k - 1], xs[m - k]
