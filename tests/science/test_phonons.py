"""Phonon displacements: amplitudes as asked, and thermal snapshots that obey equipartition."""

import numpy as np
import pytest
from ase import units
from ase.build import bulk

from aiida_mlipgen.science.phonons import (
    PhononSettings,
    force_constants,
    ideal_supercell,
    phonon_structures,
    thermal_snapshots,
)
from aiida_mlipgen.science.teacher import stillinger_weber_silicon


@pytest.fixture
def silicon():
    return bulk('Si', 'diamond', a=5.43)


def test_finite_displacements_move_one_atom_by_the_amplitude(silicon):
    frames = phonon_structures(silicon, PhononSettings(amplitudes_A=[0.01, 0.03], min_atoms=16))
    ideal = ideal_supercell(silicon, [2, 2, 2])
    # diamond: one distinct site; phonopy displaces it along (0, 1, 1), which the site's two-fold axis along
    # x maps onto its opposite, so one displacement per amplitude suffices
    assert [atoms.info['amplitude_A'] for atoms in frames] == [0.01, 0.03]
    for atoms in frames:
        assert len(atoms) == 16 and atoms.info['generator'] == 'phonon_displacement'
        moved = np.linalg.norm(atoms.positions - ideal.positions, axis=1)
        assert np.count_nonzero(moved > 1e-9) == 1
        assert moved.max() == pytest.approx(atoms.info['amplitude_A'], rel=1e-9)


def test_thermal_snapshots_obey_classical_equipartition(silicon):
    """Mean harmonic energy of the snapshots = (3N - 3) k_B T / 2 (3 translations carry none)."""
    repetitions, temperature = [2, 2, 2], 300.0
    constants = force_constants(silicon, repetitions, stillinger_weber_silicon()).force_constants
    ideal = ideal_supercell(silicon, repetitions)
    snapshots = thermal_snapshots(silicon, repetitions, stillinger_weber_silicon(), temperature, 200, seed=1)
    displacements = np.array([atoms.positions - ideal.positions for atoms in snapshots])
    energies = 0.5 * np.einsum('sia,ijab,sjb->s', displacements, constants, displacements)
    expected = (3 * len(ideal) - 3) / 2 * units.kB * temperature
    # 200 snapshots of 45 modes: the relative standard error is sqrt(2 / 45 / 200) = 1.5 %
    assert energies.mean() == pytest.approx(expected, rel=0.06)
    assert {atoms.info['temperature_K'] for atoms in snapshots} == {temperature}


def test_settings_are_checked(silicon):
    with pytest.raises(ValueError, match=r'in \(0, 0.1\] A'):
        PhononSettings(amplitudes_A=[0.2])
    with pytest.raises(ValueError, match='need a `potential`'):
        PhononSettings(temperatures_K=[300])
    with pytest.raises(ValueError, match='more than max_atoms=8'):
        phonon_structures(silicon, PhononSettings(min_atoms=16, max_atoms=8))
