"""Tests of the learning-curve maths: labels to reach a target, means over seeds, ratios with bounds."""

import numpy as np
import pytest

from aiida_mlipgen.science.learning_curves import (
    best_common_target,
    check_curve,
    interpolate_errors,
    label_ratio,
    labels_to_target,
    mean_curve,
)


def power_law(labels, prefactor=1.0, exponent=0.5):
    return prefactor * np.asarray(labels, dtype=float) ** -exponent


def test_labels_to_target_is_exact_on_a_power_law():
    # error = n^-1/2 is a straight line in log-log: the interpolation recovers n = target^-2 exactly.
    labels = [10, 40, 160, 640]
    assert labels_to_target(labels, power_law(labels), 0.1) == pytest.approx(100.0)
    assert labels_to_target(labels, power_law(labels), 0.05) == pytest.approx(400.0)


def test_labels_to_target_at_a_budget_before_and_beyond():
    labels = [10, 40, 160]
    errors = power_law(labels)
    assert labels_to_target(labels, errors, errors[1]) == pytest.approx(40.0)
    assert labels_to_target(labels, errors, 1.0) == 10.0  # met at the first budget: nothing said below it
    assert labels_to_target(labels, errors, 0.01) is None  # never reached: no extrapolation


def test_labels_to_target_takes_the_first_crossing_of_a_noisy_curve():
    # Down below the target at 20 labels, up again at 40, below for good at 80: the first crossing counts.
    labels, errors = [10, 20, 40, 80], [0.2, 0.09, 0.11, 0.08]
    expected = np.exp(np.log(10) + (np.log(0.1) - np.log(0.2)) * np.log(2) / (np.log(0.09) - np.log(0.2)))
    assert labels_to_target(labels, errors, 0.1) == pytest.approx(expected)
    assert 10 < expected < 20


def test_curves_are_sorted_and_checked():
    labels, errors = check_curve([40, 10], [0.1, 0.3])
    assert labels.tolist() == [10, 40] and errors.tolist() == [0.3, 0.1]
    for bad_labels, bad_errors in (([10, 10], [0.2, 0.1]), ([0, 10], [0.2, 0.1]), ([10, 20], [0.2, np.nan]), ([], [])):
        with pytest.raises(ValueError):
            check_curve(bad_labels, bad_errors)
    with pytest.raises(ValueError, match='positive number'):
        labels_to_target([10, 20], [0.2, 0.1], 0.0)


def test_interpolation_never_extrapolates():
    values = interpolate_errors([10, 1000], [1.0, 0.01], [5, 10, 100, 1000, 2000])
    assert np.isnan(values[[0, 4]]).all()
    assert values[1:4] == pytest.approx([1.0, 0.1, 0.01])


def test_mean_curve_over_seeds_keeps_the_common_range():
    first = ([10, 20, 40], [0.4, 0.2, 0.1])
    second = ([12, 20, 40, 80], [0.3, 0.2, 0.12, 0.06])
    labels, mean, std = mean_curve([first, second])
    assert labels.tolist() == [12, 20, 40]  # 10 and 80: measured by one curve only
    assert mean[1:] == pytest.approx([0.2, 0.11])
    assert std[1] == pytest.approx(0.0) and std[2] == pytest.approx(np.std([0.1, 0.12], ddof=1))
    single = mean_curve([first])
    assert single[0].tolist() == [10, 20, 40] and single[2].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match='share no range'):
        mean_curve([([1, 2], [0.2, 0.1]), ([3, 4], [0.2, 0.1])])


def test_best_common_target_is_reached_by_every_curve():
    curves = [([10, 20], [0.3, 0.1]), ([10, 20], [0.4, 0.2])]
    target = best_common_target(curves)
    assert target == pytest.approx(0.2)
    assert all(labels_to_target(labels, errors, target) is not None for labels, errors in curves)


def test_label_ratios_say_when_they_are_bounds():
    assert label_ratio(100, 200, 400, 800).as_dict() == {'value': 0.25, 'kind': 'exact'}
    assert label_ratio(100, 200, None, 800).as_dict() == {'value': 0.125, 'kind': 'upper_bound'}
    assert label_ratio(None, 200, 400, 800).as_dict() == {'value': 0.5, 'kind': 'lower_bound'}
    assert label_ratio(None, 200, None, 800).as_dict() == {'value': None, 'kind': 'unknown'}
