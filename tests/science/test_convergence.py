"""Stopping rules of the loop, one test per rule."""

import pytest

from aiida_mlipgen.science.convergence import (
    CONVERGED,
    DFT_BUDGET,
    MAX_ITERATIONS,
    NO_CANDIDATES,
    StoppingCriteria,
    describe_stop,
    remaining_budget,
    stop_before_labelling,
)

GOOD, BAD = True, False  # whether every exploration condition reached the accurate fraction


def test_converged_when_accurate_everywhere():
    criteria = StoppingCriteria()
    assert stop_before_labelling(criteria, GOOD, None, 10, 5) == CONVERGED
    assert stop_before_labelling(criteria, BAD, None, 10, 5) is None


def test_converged_also_needs_the_rmse_target_when_set():
    criteria = StoppingCriteria(target_force_rmse=0.1)
    assert stop_before_labelling(criteria, GOOD, 0.2, 10, 5) is None
    assert stop_before_labelling(criteria, GOOD, None, 10, 5) is None
    assert stop_before_labelling(criteria, GOOD, 0.08, 10, 5) == CONVERGED


def test_budget_and_candidates_before_labelling():
    criteria = StoppingCriteria(max_iterations=3, max_dft_calls=50)
    assert stop_before_labelling(criteria, BAD, None, 50, 5) == DFT_BUDGET
    assert stop_before_labelling(criteria, BAD, None, 10, 0) == NO_CANDIDATES
    assert stop_before_labelling(criteria, BAD, None, 10, 4) is None


def test_the_last_iteration_labels_nothing_more():
    criteria = StoppingCriteria(max_iterations=3, max_dft_calls=50)
    assert stop_before_labelling(criteria, BAD, None, 10, 5, iteration=3) == MAX_ITERATIONS
    assert stop_before_labelling(criteria, BAD, None, 10, 5, iteration=2) is None
    assert stop_before_labelling(criteria, BAD, None, 55, 5, iteration=3) == DFT_BUDGET
    assert remaining_budget(criteria, 45) == 5 and remaining_budget(criteria, 60) == 0
    assert remaining_budget(StoppingCriteria(), 1000) is None


@pytest.mark.parametrize(
    ('kwargs', 'match'),
    [
        ({'min_accurate_fraction': 0}, r'min_accurate_fraction must be in \(0, 1\]'),
        ({'max_iterations': 0}, 'max_iterations'),
        ({'max_dft_calls': 0}, 'budget'),
        ({'target_force_rmse': -1}, 'target_force_rmse'),
    ],
)
def test_bad_criteria_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StoppingCriteria(**kwargs)


def test_descriptions_name_the_numbers():
    criteria = StoppingCriteria(max_dft_calls=40, max_iterations=4)
    assert '40 labels' in describe_stop(DFT_BUDGET, criteria, 2, 40)
    assert '(4)' in describe_stop(MAX_ITERATIONS, criteria, 4, 12)


def test_core_hour_budget():
    criteria = StoppingCriteria(max_dft_core_hours=2.0)
    assert stop_before_labelling(criteria, BAD, None, 10, 5, dft_core_hours=2.5) == DFT_BUDGET
    assert stop_before_labelling(criteria, BAD, None, 10, 5, dft_core_hours=1.0) is None
    with pytest.raises(ValueError, match='core-hour'):
        StoppingCriteria(max_dft_core_hours=0)
