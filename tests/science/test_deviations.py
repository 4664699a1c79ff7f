"""Tests of the DP-GEN committee deviations on hand-computed committees."""

import numpy as np
import pytest

from aiida_mlipgen.science.deviations import frame_deviation, per_atom_force_deviation


def test_per_atom_force_deviation_by_hand():
    # Atom 0: members at (+1, 0, 0) and (-1, 0, 0): deviation sqrt(mean(1, 1)) = 1.
    # Atom 1: members at (0, 0, 0) and (0, 2, 0): mean (0, 1, 0), deviation 1 as well.
    # Atom 2: identical predictions: 0.
    forces = np.array(
        [
            [[1.0, 0, 0], [0, 0, 0], [0.5, 0.5, 0.5]],
            [[-1.0, 0, 0], [0, 2.0, 0], [0.5, 0.5, 0.5]],
        ]
    )
    np.testing.assert_allclose(per_atom_force_deviation(forces), [1.0, 1.0, 0.0])


def test_frame_deviation_by_hand():
    forces = np.zeros((4, 2, 3))
    forces[:, 1, 2] = [0.1, -0.1, 0.1, -0.1]  # deviation of atom 1: 0.1 eV/A
    energies = np.array([-10.0, -10.2, -10.0, -10.2])  # std 0.1 eV over 2 atoms
    stresses = np.zeros((4, 6))
    stresses[:, 3] = [0.0, 0.02, 0.0, 0.02]  # std 0.01 eV/A^3
    deviation = frame_deviation(energies, forces, stresses)
    assert deviation.max_force_deviation == pytest.approx(0.1)
    assert deviation.mean_force_deviation == pytest.approx(0.05)
    assert deviation.energy_deviation_per_atom == pytest.approx(0.05)
    assert deviation.stress_deviation == pytest.approx(0.01)
    assert np.isnan(frame_deviation(energies, forces).stress_deviation)


def test_deviation_bad_input():
    with pytest.raises(ValueError, match='two members'):
        per_atom_force_deviation(np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match='shape'):
        per_atom_force_deviation(np.zeros((2, 2)))
    with pytest.raises(ValueError, match='one value per committee member'):
        frame_deviation(np.zeros(3), np.zeros((2, 2, 3)))
