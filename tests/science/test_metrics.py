"""Tests of error metrics and calibration on hand-made pairs of frames."""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from aiida_mlipgen.science.metrics import (
    compare_frames,
    energy_per_atom_errors,
    error_statistics,
    force_component_errors,
    max_force_errors,
    spearman_calibration,
    stress_errors_gpa,
)

EV_PER_A3_IN_GPA = 160.21766208


def _frame(num_atoms, energy, forces, stress=None):
    atoms = Atoms(f'Si{num_atoms}', positions=np.arange(3 * num_atoms).reshape(-1, 3), cell=[9, 9, 9], pbc=True)
    results = {'energy': energy, 'forces': np.asarray(forces, dtype=float)}
    if stress is not None:
        results['stress'] = np.asarray(stress, dtype=float)
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def test_error_statistics_by_hand():
    statistics = error_statistics(np.array([0.0, 0.0, 0.0, 0.0]), np.array([1.0, -1.0, 3.0, -3.0]))
    assert statistics.mae == pytest.approx(2.0)
    assert statistics.rmse == pytest.approx(np.sqrt(5.0))
    assert statistics.max_abs == 3.0
    assert statistics.count == 4


def test_compare_a_hand_made_pair():
    # Frame 1: 2 atoms, energy error +0.2 eV -> 0.1 eV/atom; frame 2: 4 atoms, error -0.2 eV -> 0.05.
    zeros2, zeros4 = np.zeros((2, 3)), np.zeros((4, 3))
    predicted_forces2 = zeros2.copy()
    predicted_forces2[0] = [0.3, 0.0, -0.4]  # |error| 0.5 eV/A on atom 0
    predicted_forces4 = zeros4.copy()
    predicted_forces4[3, 1] = 1.2
    stress = np.zeros(6)
    predicted_stress = np.array([0.01, 0, 0, 0, 0, 0])  # eV/A^3
    reference = [_frame(2, -10.0, zeros2, stress), _frame(4, -20.0, zeros4, stress)]
    predicted = [
        _frame(2, -9.8, predicted_forces2, predicted_stress),
        _frame(4, -20.2, predicted_forces4, stress),
    ]

    report = compare_frames(reference, predicted)
    assert report['frames'] == {'num_frames': 2}
    assert report['energy_per_atom']['mae'] == pytest.approx(0.075)
    assert report['energy_per_atom']['rmse'] == pytest.approx(np.sqrt((0.1**2 + 0.05**2) / 2))
    assert report['energy_per_atom']['unit'] == 'eV/atom'
    # 18 force components, errors 0.3, -0.4, 1.2.
    assert report['forces']['mae'] == pytest.approx(1.9 / 18)
    assert report['forces']['rmse'] == pytest.approx(np.sqrt((0.09 + 0.16 + 1.44) / 18))
    assert report['forces']['max_abs'] == pytest.approx(1.2)
    # 12 stress components, one error of 0.01 eV/A^3 = 1.602 GPa.
    assert report['stress']['mae'] == pytest.approx(0.01 * EV_PER_A3_IN_GPA / 12, rel=1e-6)
    assert report['stress']['rmse'] == pytest.approx(0.01 * EV_PER_A3_IN_GPA / np.sqrt(12), rel=1e-6)
    assert report['stress']['unit'] == 'GPa'
    np.testing.assert_allclose(max_force_errors([zeros2, zeros4], [predicted_forces2, predicted_forces4]), [0.5, 1.2])


def test_compare_leaves_out_stress_when_a_frame_lacks_it():
    forces = np.zeros((1, 3))
    report = compare_frames([_frame(1, 0.0, forces)], [_frame(1, 0.1, forces, np.zeros(6))])
    assert 'stress' not in report
    assert report['energy_per_atom']['mae'] == pytest.approx(0.1)


def test_compare_rejects_mismatched_frames():
    forces = np.zeros((2, 3))
    reference = _frame(2, 0.0, forces)
    moved = _frame(2, 0.0, forces)
    moved.positions[0, 0] += 0.1
    with pytest.raises(ValueError, match='positions differ'):
        compare_frames([reference], [moved])
    with pytest.raises(ValueError, match='different atoms'):
        compare_frames([reference], [_frame(1, 0.0, np.zeros((1, 3)))])
    with pytest.raises(ValueError, match='1 reference frames but 0'):
        compare_frames([reference], [])
    unlabelled = reference.copy()
    with pytest.raises(ValueError, match='no calculator results'):
        compare_frames([reference], [unlabelled])


def test_stress_in_3x3_and_voigt_agree():
    tensor = np.array([[1.0, 6.0, 5.0], [6.0, 2.0, 4.0], [5.0, 4.0, 3.0]]) * 1e-3
    voigt = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) * 1e-3
    assert stress_errors_gpa([tensor], [np.zeros(6)]) == stress_errors_gpa([voigt], [np.zeros((3, 3))])
    with pytest.raises(ValueError, match='shape'):
        stress_errors_gpa([np.zeros(5)], [np.zeros(5)])


def test_array_inputs_are_checked():
    with pytest.raises(ValueError, match='one value per frame'):
        energy_per_atom_errors([1.0, 2.0], [1.0, 2.0], [1])
    with pytest.raises(ValueError, match='at least one atom'):
        energy_per_atom_errors([1.0], [1.0], [0])
    with pytest.raises(ValueError, match='shape'):
        force_component_errors([np.zeros((2, 3))], [np.zeros((3, 3))])
    with pytest.raises(ValueError, match='non-finite'):
        error_statistics(np.array([np.nan]), np.array([0.0]))


def test_spearman_calibration():
    deviations = [0.01, 0.02, 0.05, 0.10, 0.20]
    assert spearman_calibration(deviations, [0.1, 0.3, 0.2, 0.5, 0.9]) == pytest.approx(0.9)  # one swap
    assert spearman_calibration(deviations, [5, 4, 3, 2, 1]) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match='at least 3'):
        spearman_calibration([0.1, 0.2], [0.1, 0.2])
    with pytest.raises(ValueError, match='undefined'):
        spearman_calibration([0.1, 0.1, 0.1], [0.1, 0.2, 0.3])
