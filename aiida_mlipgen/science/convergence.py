"""When to stop active learning, and why (after DPGEN2's exploration convergence check,
https://docs.deepmodeling.com/projects/dpgen2/).

DPGEN2's rule (its ``conv_accuracy``): the accurate fraction of the last exploration is >=
``min_accurate_fraction`` for every condition; optionally also a target test force RMSE. Otherwise the
loop stops when the DFT budget, the iterations, or the supply of new candidates runs out.
"""

from __future__ import annotations

from dataclasses import dataclass

from .contract import DEFAULT_MIN_ACCURATE_FRACTION, check_accurate_fraction

#: Stop reasons, as recorded in the loop's outputs and report.
CONVERGED = 'converged'
DFT_BUDGET = 'dft_budget_exhausted'
MAX_ITERATIONS = 'max_iterations_reached'
NO_CANDIDATES = 'no_new_candidates'

STOP_REASONS = {
    CONVERGED: 'the accurate fraction reached the target for every exploration condition{rmse}',
    DFT_BUDGET: 'the DFT budget is spent ({labels} labels, {core_hours:.3g} core-hours)',
    MAX_ITERATIONS: 'the maximum number of iterations ({iterations}) was reached',
    NO_CANDIDATES: 'exploration found no new candidate to label',
}


@dataclass(frozen=True)
class StoppingCriteria:
    """Thresholds of the stopping rules.

    min_accurate_fraction: accurate fraction needed in every condition (DPGEN2: 0.9).
    target_force_rmse: test force RMSE (eV/A) that must also be reached; None: not required.
    max_iterations: iterations at most (10 in the active_learning protocol; docs/active_learning.md).
    max_dft_calls: DFT labels at most, initial set included; None: no budget.
    max_dft_core_hours: DFT core-hours at most (requested cores x job wall time); None: no budget.
    """

    min_accurate_fraction: float = DEFAULT_MIN_ACCURATE_FRACTION
    target_force_rmse: float | None = None
    max_iterations: int = 10
    max_dft_calls: int | None = None
    max_dft_core_hours: float | None = None

    def __post_init__(self):
        check_accurate_fraction(self.min_accurate_fraction)
        if self.max_iterations < 1:
            raise ValueError(f'max_iterations must be >= 1, got {self.max_iterations}')
        if self.max_dft_calls is not None and self.max_dft_calls < 1:
            raise ValueError(f'the DFT budget must be at least one calculation, got {self.max_dft_calls}')
        if self.max_dft_core_hours is not None and self.max_dft_core_hours <= 0:
            raise ValueError(f'the DFT core-hour budget must be positive, got {self.max_dft_core_hours}')
        if self.target_force_rmse is not None and self.target_force_rmse <= 0:
            raise ValueError(f'target_force_rmse must be positive (eV/A), got {self.target_force_rmse}')


def budget_spent(criteria: StoppingCriteria, dft_calls: int, dft_core_hours: float) -> bool:
    """Whether either DFT budget (labels, core-hours) is used up."""
    if criteria.max_dft_calls is not None and dft_calls >= criteria.max_dft_calls:
        return True
    return criteria.max_dft_core_hours is not None and dft_core_hours >= criteria.max_dft_core_hours


def stop_before_labelling(
    criteria: StoppingCriteria,
    accurate_everywhere: bool,
    test_force_rmse: float | None,
    dft_calls: int,
    num_candidates: int,
    dft_core_hours: float = 0.0,
    iteration: int | None = None,
) -> str | None:
    """After exploration and selection: the reason not to label anything more, or None to label.

    Every rule is applied here, before the candidates are labelled, so that a loop never ends with
    labels that no committee was trained on: the committee it returns matches the dataset it returns.

    :param accurate_everywhere: whether every condition of the last exploration reached ``min_accurate_fraction``
        (``statistics['converged']`` of ``select_candidates``, DPGEN2's rule).
    :param test_force_rmse: force RMSE (eV/A) of the current committee on the held-out test set.
    :param dft_calls: DFT labels computed so far (including failed ones: they cost the same).
    :param num_candidates: candidates the selection proposed for labelling.
    :param dft_core_hours: DFT core-hours spent so far.
    :param iteration: the iteration just explored (1, 2, ...): the last one labels nothing more.
    """
    rmse_ok = criteria.target_force_rmse is None or (
        test_force_rmse is not None and test_force_rmse <= criteria.target_force_rmse
    )
    if accurate_everywhere and rmse_ok:
        return CONVERGED
    if budget_spent(criteria, dft_calls, dft_core_hours):
        return DFT_BUDGET
    if num_candidates == 0:
        return NO_CANDIDATES
    if iteration is not None and iteration >= criteria.max_iterations:
        return MAX_ITERATIONS
    return None


def remaining_budget(criteria: StoppingCriteria, dft_calls: int) -> int | None:
    """DFT labels still allowed (never negative), or None without a budget."""
    if criteria.max_dft_calls is None:
        return None
    return max(criteria.max_dft_calls - dft_calls, 0)


def describe_stop(
    reason: str, criteria: StoppingCriteria, iterations: int, dft_calls: int, dft_core_hours: float = 0.0
) -> str:
    """A sentence for the report: why the loop stopped."""
    rmse = (
        '' if criteria.target_force_rmse is None else f' and the test force RMSE <= {criteria.target_force_rmse} eV/A'
    )
    return STOP_REASONS[reason].format(rmse=rmse, labels=dft_calls, core_hours=dft_core_hours, iterations=iterations)
