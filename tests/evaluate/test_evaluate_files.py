"""Plain parsing functions of the evaluation: stderr classification, summaries, frames, statistics, metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator

from aiida_mlipgen.engines.evaluate import main
from aiida_mlipgen.parsers.evaluate_files import (
    DEVIATION_UNITS,
    EngineFailure,
    committee_mean_frames,
    committee_metrics,
    deviation_statistics,
    engine_error,
    read_evaluated_frames,
    read_summary,
)
from aiida_mlipgen.science.extxyz import extxyz_string, write_extxyz
from tests.silicon import si_frames


def _annotated(frames, offsets=(0.01, -0.02, 0.03), deviations=(0.05, 0.2, 0.1)):
    """Frames with labels, a committee mean shifted from them by known offsets, and given deviations."""
    for atoms, offset, deviation in zip(frames, offsets, deviations, strict=True):
        results = atoms.calc.results
        atoms.info['committee_energy'] = results['energy'] + offset * len(atoms)
        atoms.arrays['committee_forces'] = results['forces'] + offset
        atoms.info['committee_stress'] = results['stress'] + offset
        atoms.info.update(
            max_force_deviation=deviation,
            mean_force_deviation=deviation / 2,
            energy_deviation_per_atom=deviation / 10,
            stress_deviation=float('nan'),
        )
    return frames


def test_engine_errors_are_classified(tiny_committee, tmp_path, capsys):
    models = ['--models', *map(str, tiny_committee.packages)]
    outputs = ['--output', str(tmp_path / 'o.extxyz'), '--summary', str(tmp_path / 's.json')]

    frames = si_frames(2, label=False)
    frames[1].symbols[0] = 'C'
    write_extxyz(tmp_path / 'carbon.extxyz', frames)
    assert main([*models, '--input', str(tmp_path / 'carbon.extxyz'), *outputs]) == 2
    error = engine_error(capsys.readouterr().err)
    assert error.kind is EngineFailure.UNKNOWN_SPECIES
    assert "frame 1 contains species ['C']" in error.message

    assert main([*models, '--input', str(tmp_path / 'absent.lammpstrj'), *outputs]) == 2
    error = engine_error(capsys.readouterr().err)
    assert error.kind is EngineFailure.UNREADABLE_FRAMES and 'does not exist' in error.message

    write_extxyz(tmp_path / 'si.extxyz', si_frames(1, label=False))
    assert main([*models, '--input', str(tmp_path / 'si.extxyz'), *outputs, '--batch-size', '0']) == 2
    error = engine_error(capsys.readouterr().err)
    assert error.kind is EngineFailure.BAD_INPUT and 'batch-size' in error.message


def test_tracebacks_and_clean_runs():
    traceback = 'Traceback (most recent call last):\n  File "x.py", line 1\nIndexError: list index out of range\n'
    error = engine_error('some warning\n' + traceback)
    assert error.kind is EngineFailure.CRASHED
    assert error.message == 'IndexError: list index out of range'
    assert engine_error('') is None
    assert engine_error('UserWarning: something harmless\n') is None


def test_summary_must_be_a_complete_json_object():
    assert read_summary(json.dumps({'num_frames': 1, 'num_members': 2, 'deviations': {}}))['num_members'] == 2
    with pytest.raises(ValueError, match='not valid JSON'):
        read_summary('{"num_frames": 1,')
    with pytest.raises(ValueError, match='lacks num_members, deviations'):
        read_summary('{"num_frames": 1}')
    with pytest.raises(ValueError, match='not a JSON object'):
        read_summary('[1, 2]')


def test_evaluated_frames_are_checked():
    frames = _annotated(si_frames(3, seed=1))
    text = extxyz_string(frames)
    read = read_evaluated_frames(text, expected_count=3)
    assert [atoms.info['max_force_deviation'] for atoms in read] == [0.05, 0.2, 0.1]
    with pytest.raises(ValueError, match='holds 2 frames but the summary reports 3'):
        read_evaluated_frames(extxyz_string(frames[:2]), expected_count=3)
    with pytest.raises(ValueError, match='not readable as extxyz'):
        read_evaluated_frames(text[: len(text) // 2], expected_count=3)
    with pytest.raises(ValueError, match='empty'):
        read_evaluated_frames('  \n')
    del frames[0].info['stress_deviation']
    with pytest.raises(ValueError, match='frame 0 lacks the deviations stress_deviation'):
        read_evaluated_frames(extxyz_string(frames))


def test_deviation_statistics_leave_out_non_finite_values():
    frames = _annotated(si_frames(3, seed=1))
    statistics = deviation_statistics(frames)
    assert set(statistics) == set(DEVIATION_UNITS)
    forces = statistics['max_force_deviation']
    assert forces['unit'] == 'eV/A'
    assert forces['count'] == 3
    assert forces['min'] == 0.05 and forces['max'] == 0.2 and forces['median'] == 0.1
    assert forces['mean'] == pytest.approx(np.mean([0.05, 0.2, 0.1]))
    assert statistics['stress_deviation'] == {
        'unit': 'eV/A^3',
        'count': 0,
        'min': None,
        'mean': None,
        'median': None,
        'max': None,
        'std': None,
    }


def test_committee_metrics_against_labels():
    frames = _annotated(si_frames(3, seed=1))
    metrics = committee_metrics(frames)
    offsets = np.array([0.01, -0.02, 0.03])
    assert metrics['energy_mae_eV_per_atom'] == pytest.approx(np.abs(offsets).mean(), rel=1e-9)
    assert metrics['energy_rmse_eV_per_atom'] == pytest.approx(np.sqrt((offsets**2).mean()), rel=1e-9)
    sizes = np.array([len(atoms) for atoms in frames])
    weights = np.repeat(offsets, sizes * 3)
    assert metrics['forces_mae_eV_per_A'] == pytest.approx(np.abs(weights).mean(), rel=1e-9)
    assert metrics['forces_max_abs_eV_per_A'] == pytest.approx(0.03, rel=1e-9)
    assert metrics['stress_mae_GPa'] == pytest.approx(np.abs(offsets).mean() * 160.21766208, rel=1e-6)
    assert metrics['num_frames'] == 3 and metrics['prediction'] == 'committee_mean'
    # max force errors |offset| sqrt(3) rank 1, 2, 3; deviations 0.05, 0.2, 0.1 rank 1, 3, 2: rho = 1 - 6 * 2 / 24
    assert metrics['deviation_error_spearman'] == pytest.approx(0.5)
    for atoms in frames:
        atoms.info['max_force_deviation'] = 0.1  # constant deviations rank nothing: no correlation reported
    assert 'deviation_error_spearman' not in committee_metrics(frames)


def test_committee_mean_is_never_a_label():
    frames = _annotated(si_frames(2, seed=3), offsets=(0.01, -0.02), deviations=(0.05, 0.2))
    predicted = committee_mean_frames(frames)
    assert predicted[0].get_potential_energy() == frames[0].info['committee_energy']
    assert frames[0].get_potential_energy() != frames[0].info['committee_energy']
    # a frame without a cell has no stress prediction: no stress compared
    frames[1].info['committee_stress'] = np.full(6, np.nan)
    assert 'stress' not in committee_mean_frames(frames)[1].calc.results
    del frames[0].info['committee_energy']
    with pytest.raises(ValueError, match='frame 0 has no committee mean'):
        committee_mean_frames(frames)


def test_metrics_need_labels():
    frames = _annotated(si_frames(2, seed=3), offsets=(0.0, 0.0), deviations=(0.1, 0.1))
    frames[1].calc = None
    with pytest.raises(ValueError, match=r'frames \[1\] have no labels'):
        committee_metrics(frames)
    frames[1].calc = SinglePointCalculator(frames[1], energy=np.nan, forces=np.zeros((len(frames[1]), 3)))
    with pytest.raises(ValueError, match='non-finite'):
        committee_metrics(frames)
