"""Learning curves: how many labels a training strategy needs to reach a target test error.

A learning curve is a test error (for instance the force RMSE, eV/A) measured after training on n
labels, at a few budgets n_1 < n_2 < ... . The errors of machine-learning potentials fall roughly as
a power law of the training-set size, error ~ a n^-b, so between two measured budgets the curve is
interpolated linearly in log(error) against log(n); nothing is extrapolated beyond the measured
budgets. Comparing strategies (active learning vs random sampling) then reads: labels each one needs
to reach the same target, and their ratio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


def check_curve(labels: Sequence[float], errors: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The curve as two arrays sorted by label count; refuses what cannot be interpolated in log-log.

    :param labels: label counts (training frames), positive and all different.
    :param errors: test errors at those counts, positive and finite (any unit).
    """
    labels = np.asarray(labels, dtype=float)
    errors = np.asarray(errors, dtype=float)
    if labels.ndim != 1 or labels.shape != errors.shape or labels.size == 0:
        raise ValueError(f'a learning curve needs as many errors as label counts, got {labels.shape} / {errors.shape}')
    if not (np.isfinite(labels).all() and np.isfinite(errors).all()):
        raise ValueError('label counts and errors must be finite numbers')
    if (labels <= 0).any() or (errors <= 0).any():
        raise ValueError('label counts and errors must be positive (the curve is interpolated in log-log)')
    order = np.argsort(labels, kind='stable')
    labels, errors = labels[order], errors[order]
    if (np.diff(labels) == 0).any():
        raise ValueError(f'label counts must all differ, got {labels.tolist()}')
    return labels, errors


def interpolate_errors(labels: Sequence[float], errors: Sequence[float], at: Sequence[float]) -> np.ndarray:
    """Errors of the curve at the label counts ``at``, log-log interpolated; NaN outside the measured range."""
    labels, errors = check_curve(labels, errors)
    at = np.asarray(at, dtype=float)
    inside = (at >= labels[0]) & (at <= labels[-1])
    result = np.full(at.shape, np.nan)
    if inside.any():
        result[inside] = np.exp(np.interp(np.log(at[inside]), np.log(labels), np.log(errors)))
    return result


def labels_to_target(labels: Sequence[float], errors: Sequence[float], target: float) -> float | None:
    """Fewest labels at which the curve first reaches ``errors <= target``, or None if it never does.

    Between the last budget above the target and the first at or below it, the label count is
    interpolated in log-log. If the first budget already meets the target, that budget is returned
    (the curve says nothing about fewer labels).
    """
    if not (math.isfinite(target) and target > 0):
        raise ValueError(f'the target must be a positive number, got {target}')
    labels, errors = check_curve(labels, errors)
    reached = np.flatnonzero(errors <= target)
    if reached.size == 0:
        return None
    first = int(reached[0])
    if first == 0:
        return float(labels[0])
    n0, n1 = np.log(labels[first - 1]), np.log(labels[first])
    e0, e1 = np.log(errors[first - 1]), np.log(errors[first])
    return float(np.exp(n0 + (np.log(target) - e0) * (n1 - n0) / (e1 - e0)))


def mean_curve(curves: Sequence[tuple[Sequence[float], Sequence[float]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and standard deviation of several curves (e.g. seeds) at every budget any of them measured.

    Each curve is interpolated (log-log) at the union of the budgets that lie inside the range every
    curve covers, so a mean never mixes a measurement with an extrapolation.

    :return: label counts, mean errors, standard deviations (0 for a single curve).
    """
    if not curves:
        raise ValueError('give at least one curve')
    checked = [check_curve(labels, errors) for labels, errors in curves]
    low = max(labels[0] for labels, _ in checked)
    high = min(labels[-1] for labels, _ in checked)
    if low > high:
        raise ValueError(f'the curves share no range of label counts (from {low:g} to {high:g})')
    grid = np.unique(np.concatenate([labels for labels, _ in checked]))
    grid = grid[(grid >= low) & (grid <= high)]
    values = np.array([interpolate_errors(labels, errors, grid) for labels, errors in checked])
    spread = values.std(axis=0, ddof=1) if len(checked) > 1 else np.zeros(grid.shape)
    return grid, values.mean(axis=0), spread


def best_common_target(curves: Sequence[tuple[Sequence[float], Sequence[float]]]) -> float:
    """The lowest error that every curve reaches within its budgets: the largest of their minima."""
    if not curves:
        raise ValueError('give at least one curve')
    return float(max(check_curve(labels, errors)[1].min() for labels, errors in curves))


@dataclass(frozen=True)
class LabelRatio:
    """Labels one strategy needs over those another needs to reach the same target.

    ``kind`` says how far the value is known: ``exact`` (both reached the target), ``upper_bound``
    (the other never reached it within its ``max`` budget, so the true ratio is lower), ``lower_bound``
    (this one never reached it, so the true ratio is higher), or ``unknown`` (neither did; value None).
    """

    value: float | None
    kind: str

    def as_dict(self) -> dict:
        """JSON-ready dictionary."""
        return asdict(self)


def label_ratio(
    labels: float | None, max_labels: float, other_labels: float | None, other_max_labels: float
) -> LabelRatio:
    """``labels / other_labels`` for a target, bounded by the largest budgets where a target was not reached.

    :param labels: labels this strategy needs (None: not reached within ``max_labels``).
    :param other_labels: labels the other strategy needs (None: not reached within ``other_max_labels``).
    """
    if labels is not None and other_labels is not None:
        return LabelRatio(labels / other_labels, 'exact')
    if labels is not None:
        return LabelRatio(labels / other_max_labels, 'upper_bound')
    if other_labels is not None:
        return LabelRatio(max_labels / other_labels, 'lower_bound')
    return LabelRatio(None, 'unknown')
