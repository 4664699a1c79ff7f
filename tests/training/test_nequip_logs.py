"""The plain parsing functions on stored outputs of real nequip-train runs (see fixtures/make_fixtures.py)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from ase import units

from aiida_mlipgen.parsers.nequip_logs import (
    TrainingOutcome,
    final_validation_metrics,
    non_finite_loss_epochs,
    read_learning_curve,
    training_status,
)
from tests.training.conftest import FIXTURES


def _read(case: str, name: str) -> str:
    path = FIXTURES / case / name
    return path.read_text() if path.is_file() else ''


def _status(case: str):
    return training_status(_read(case, 'train.log'), _read(case, 'nequip_train.err'))


def test_finished_run_gives_the_best_epoch_metrics_in_our_units():
    assert _status('finished').outcome is TrainingOutcome.FINISHED
    text = _read('finished', 'metrics.csv')
    curve = read_learning_curve(text)
    assert curve['epoch'].tolist() == [0, 1, 2]
    assert np.isfinite(curve['train_loss']).all() and np.isfinite(curve['val_loss']).all()
    assert curve['learning_rate'].tolist() == [0.01, 0.01, 0.01]

    metrics = final_validation_metrics(curve)
    best = int(np.argmin(curve['val_loss']))
    assert metrics['best_epoch'] == best and metrics['epochs_completed'] == 3
    # straight from the CSV row of that epoch: NequIP's eV/A^3 become GPa, eV/atom and eV/A stay
    row = next(
        row for row in csv.DictReader(text.splitlines()) if row['epoch'] == str(best) and row['val0_epoch/stress_mae']
    )
    assert metrics['stress_mae_GPa'] == pytest.approx(float(row['val0_epoch/stress_mae']) / units.GPa)
    assert metrics['forces_rmse_eV_per_A'] == pytest.approx(float(row['val0_epoch/forces_rmse']))
    assert metrics['energy_mae_eV_per_atom'] == pytest.approx(float(row['val0_epoch/per_atom_energy_mae']))
    assert metrics['val_loss'] == pytest.approx(float(row['val0_epoch/weighted_sum']))
    assert non_finite_loss_epochs(text) == []


def test_time_limit_is_told_from_a_finished_run():
    status = _status('time_limit')
    assert status.outcome is TrainingOutcome.TIME_LIMIT
    assert status.message.startswith('Time limit reached')
    curve = read_learning_curve(_read('time_limit', 'metrics.csv'))
    assert curve['epoch'][-1] < 39  # stopped before max_epochs


def test_non_finite_loss_is_found_in_log_and_csv():
    status = _status('non_finite')
    assert status.outcome is TrainingOutcome.NON_FINITE_LOSS
    assert 'is not finite' in status.message
    text = _read('non_finite', 'metrics.csv')
    assert non_finite_loss_epochs(text) == [0]
    with pytest.raises(ValueError, match='no epoch has a finite validation loss'):
        final_validation_metrics(read_learning_curve(text))


def test_out_of_memory_names_the_allocation_that_failed():
    status = _status('out_of_memory')
    assert status.outcome is TrainingOutcome.OUT_OF_MEMORY
    assert "can't allocate memory" in status.message


def test_crash_reports_the_last_error_line():
    status = _status('crashed')
    assert status.outcome is TrainingOutcome.FAILED
    assert status.message.startswith('FileNotFoundError')


def test_run_without_an_end_is_incomplete():
    log = _read('finished', 'train.log').split('TRAIN RUN START')[0]  # as if killed during training
    assert training_status(log, '').outcome is TrainingOutcome.INCOMPLETE
