"""Is the committee's deviation a trustworthy error bar? Calibration and a trust window fitted to it.

Committee deviation is only useful if it ranks true errors. On labelled frames (the exploration test
set) this module measures that, and fits the lower trust level to the system, as DPGEN2's adaptive
lower level does: the deviation below which frames are truly accurate is system- and model-dependent,
so a fixed window (DP-GEN's 0.05/0.15 eV/A) fits no system in particular.

Units: deviations and errors in eV/A (max over atoms, DP-GEN's max_devi_f and its true counterpart).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def false_negatives(
    deviations: Sequence[float], true_errors: Sequence[float], trust_lo: float | Sequence[float], error_bound: float
) -> dict[str, float | int | None]:
    """Frames called accurate (deviation < ``trust_lo``) whose true max force error exceeds ``error_bound``.

    ``trust_lo`` may be one level for all frames or one per frame (each frame's structure's own level).

    :return: ``called_accurate`` (count), ``false_negatives`` (count) and ``false_negative_rate``
        (their ratio; None when no frame was called accurate).
    """
    deviations = np.asarray(deviations, dtype=float)
    true_errors = np.asarray(true_errors, dtype=float)
    if deviations.shape != true_errors.shape:
        raise ValueError(f'{deviations.size} deviations for {true_errors.size} errors')
    accurate = deviations < np.asarray(trust_lo, dtype=float)
    missed = int(np.count_nonzero(accurate & (true_errors > error_bound)))
    called = int(np.count_nonzero(accurate))
    return {
        'called_accurate': called,
        'false_negatives': missed,
        'false_negative_rate': missed / called if called else None,
    }


@dataclass(frozen=True)
class AdaptiveWindowSettings:
    """How the lower trust level is fitted.

    :param target_error: true max force error (eV/A) that frames called accurate should stay below.
    :param max_false_negative_fraction: share of frames called accurate that may exceed it.
    :param min_frames: fewer labelled frames than this for a structure: keep the configured level.
    :param floor: the fitted level never goes below this (eV/A).
    """

    target_error: float
    max_false_negative_fraction: float = 0.1
    min_frames: int = 5
    floor: float = 0.01

    def __post_init__(self):
        if not (math.isfinite(self.target_error) and self.target_error > 0):
            raise ValueError(f'the adaptive target error must be positive (eV/A), got {self.target_error}')
        if not 0 <= self.max_false_negative_fraction < 1:
            raise ValueError(f'max_false_negative_fraction must be in [0, 1), got {self.max_false_negative_fraction}')
        if self.min_frames < 1:
            raise ValueError(f'min_frames must be >= 1, got {self.min_frames}')


def fitted_trust_lo(
    deviations: Sequence[float], true_errors: Sequence[float], settings: AdaptiveWindowSettings, trust_hi: float
) -> float | None:
    """The largest lower level such that frames below it keep their false-negative share within bounds.

    Frames are taken in order of increasing deviation; the level is placed just above the last frame of
    the longest run whose share of true errors above ``settings.target_error`` stays within
    ``settings.max_false_negative_fraction``, halfway to the next frame's deviation. It is clipped to
    ``[settings.floor, 0.9 * trust_hi]``. None when there are fewer than ``settings.min_frames`` frames.
    """
    deviations = np.asarray(deviations, dtype=float)
    true_errors = np.asarray(true_errors, dtype=float)
    finite = np.isfinite(deviations) & np.isfinite(true_errors)
    deviations, true_errors = deviations[finite], true_errors[finite]
    if deviations.size < settings.min_frames:
        return None
    order = np.argsort(deviations, kind='stable')
    deviations, bad = deviations[order], (true_errors[order] > settings.target_error)
    shares = np.cumsum(bad) / np.arange(1, bad.size + 1)
    within = np.flatnonzero(shares <= settings.max_false_negative_fraction)
    if within.size == 0:
        level = deviations[0]  # even the most certain frame is wrong: call nothing accurate
    else:
        last = within[-1]
        level = (
            np.nextafter(deviations[last], np.inf)
            if last + 1 == deviations.size
            else 0.5 * (deviations[last] + deviations[last + 1])
        )
    return float(min(max(level, settings.floor), 0.9 * trust_hi))


def adaptive_settings(values: dict | None, trust_hi: float) -> AdaptiveWindowSettings | None:
    """Settings of the adaptive lower level from the loop's ``adaptive_trust`` input; None when it is off.

    Keys: ``enabled`` (bool), ``target_error_eV_per_A`` (default ``trust_hi``: frames called accurate should
    truly err less than frames the loop would refuse to label), ``max_false_negative_fraction``,
    ``min_frames``, ``floor_eV_per_A``.
    """
    values = dict(values or {})
    unknown = sorted(
        set(values)
        - {'enabled', 'target_error_eV_per_A', 'max_false_negative_fraction', 'min_frames', 'floor_eV_per_A'}
    )
    if unknown:
        raise ValueError(f'unknown adaptive_trust keys {unknown}')
    if not values.get('enabled', False):
        return None
    return AdaptiveWindowSettings(
        target_error=float(values.get('target_error_eV_per_A', trust_hi)),
        max_false_negative_fraction=float(values.get('max_false_negative_fraction', 0.1)),
        min_frames=int(values.get('min_frames', 5)),
        floor=float(values.get('floor_eV_per_A', 0.01)),
    )
