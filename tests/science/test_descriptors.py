"""Tests of the structural fingerprint: invariances, size independence and hand-checked peaks."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from aiida_mlipgen.science.descriptors import DescriptorSettings, descriptor_matrix, structure_descriptor
from aiida_mlipgen.science.generators import volume_strained_copies


@pytest.fixture
def sic():
    """A rattled 8-atom zincblende SiC cell (two species, no symmetry left)."""
    atoms = bulk('SiC', 'zincblende', a=4.36, cubic=True)
    atoms.positions += np.random.default_rng(3).normal(0, 0.05, atoms.positions.shape)
    return atoms


@pytest.fixture
def settings():
    return DescriptorSettings(species=('Si', 'C'), cutoff=4.0, angle_cutoff=2.5)


def test_length_and_species_order(settings):
    assert settings.species == ('C', 'Si')
    assert settings.species_pairs == [('C', 'C'), ('C', 'Si'), ('Si', 'Si')]
    assert settings.length == 3 * 50 + 2 * 30


def test_invariant_to_rotation_translation_and_permutation(sic, settings):
    reference = structure_descriptor(sic, settings)
    assert reference.shape == (settings.length,)
    moved = sic.copy()
    moved.rotate(37, (1, 2, 3), rotate_cell=True)
    moved.rotate(-71, 'z', rotate_cell=True)
    moved.translate((0.3, -1.2, 4.4))
    permuted = moved[np.random.default_rng(0).permutation(len(moved))]
    np.testing.assert_allclose(structure_descriptor(permuted, settings), reference, rtol=0, atol=1e-10)


def test_supercell_equals_unit_cell(sic, settings):
    reference = structure_descriptor(sic, settings)
    np.testing.assert_allclose(structure_descriptor(sic * (2, 1, 3), settings), reference, rtol=0, atol=1e-10)


def test_strained_copy_differs(sic, settings):
    (strained,) = volume_strained_copies(sic, [3.0])
    difference = np.linalg.norm(structure_descriptor(strained, settings) - structure_descriptor(sic, settings))
    assert difference > 0.05 * np.linalg.norm(structure_descriptor(sic, settings))


def test_diamond_peaks_at_bond_length_and_tetrahedral_angle():
    # Diamond Si (a = 5.43 A): 4 neighbours at a*sqrt(3)/4 = 2.351 A, 6 angles of 109.47 deg per atom.
    settings = DescriptorSettings(species=('Si',), cutoff=3.0, num_radial_bins=61, angle_cutoff=3.0, num_angle_bins=181)
    vector = structure_descriptor(bulk('Si', 'diamond', a=5.43), settings)
    radial, angular = vector[:61], vector[61:]
    assert settings.radial_grid[np.argmax(radial)] == pytest.approx(5.43 * np.sqrt(3) / 4, abs=0.05)
    assert np.degrees(settings.angle_grid[np.argmax(angular)]) == pytest.approx(109.47, abs=1.0)
    # Peak heights: per atom 4 neighbours (f_c weights at d = 2.351 A) and 6 angles (f_c^2).
    weight = 0.5 * (1 + np.cos(np.pi * 5.43 * np.sqrt(3) / 4 / 3.0))
    spacing_r = settings.radial_grid[1] - settings.radial_grid[0]
    assert radial.sum() * spacing_r == pytest.approx(4 * weight * np.sqrt(2 * np.pi) * 0.1, rel=1e-3)
    spacing_t = settings.angle_grid[1] - settings.angle_grid[0]
    assert angular.sum() * spacing_t == pytest.approx(6 * weight**2 * np.sqrt(2 * np.pi) * 0.1, rel=1e-3)


def test_isolated_atoms_give_a_zero_vector():
    settings = DescriptorSettings(species=('H',))
    vector = structure_descriptor(Atoms('H2', positions=[[0, 0, 0], [10, 0, 0]]), settings)
    assert not vector.any()


def test_descriptor_matrix_infers_species():
    frames = [bulk('Si', 'diamond', a=5.43), bulk('C', 'diamond', a=3.57)]
    matrix = descriptor_matrix(frames)
    assert matrix.shape == (2, 3 * 50 + 2 * 30)
    assert descriptor_matrix([], DescriptorSettings(species=('Si',))).shape == (0, 80)


def test_bad_input():
    settings = DescriptorSettings(species=('Si',))
    with pytest.raises(ValueError, match=r"species \['C'\]"):
        structure_descriptor(bulk('C', 'diamond', a=3.57), settings)
    with pytest.raises(ValueError, match='angle_cutoff'):
        DescriptorSettings(species=('Si',), cutoff=3.0, angle_cutoff=4.0)
    with pytest.raises(ValueError, match='cutoff must be a positive'):
        DescriptorSettings(species=('Si',), cutoff=0)
    with pytest.raises(ValueError, match='at least one species'):
        DescriptorSettings(species=())
    with pytest.raises(ValueError, match='num_radial_bins'):
        DescriptorSettings(species=('Si',), num_radial_bins=1)
    with pytest.raises(ValueError, match='empty list'):
        descriptor_matrix([])


def test_coinciding_atoms_are_rejected():
    settings = DescriptorSettings(species=('Si',))
    with pytest.raises(ValueError, match='coincide'):
        structure_descriptor(Atoms('Si2', positions=[[0, 0, 0], [0, 0, 0]]), settings)


def test_mixed_neighbour_counts_give_the_right_number_of_angles():
    # No periodicity, bonds of 1.0 A, cutoffs 1.2 A. C atom 0 has neighbours 1 and 2: one 90 deg angle.
    # H atom 3 has neighbours 4, 5 and 6: angles of 90, 90 and 180 deg. Every other atom has at most
    # one neighbour; atom 7 is isolated.
    atoms = Atoms(
        'C3H2C2H',
        positions=[[0, 0, 0], [1, 0, 0], [0, 1, 0], [20, 0, 0], [21, 0, 0], [20, 0, 1], [19, 0, 0], [20, 21, 0]],
    )
    settings = DescriptorSettings(species=('C', 'H'), cutoff=1.2, angle_cutoff=1.2, num_angle_bins=181)
    angular = structure_descriptor(atoms, settings)[3 * 50 :] * len(atoms)
    carbon, hydrogen = angular[:181], angular[181:]
    # Each angle is a Gaussian of area sqrt(2 pi) sigma times f_c(1.0)^2; the one at 180 deg loses
    # the half beyond pi.
    area = np.sqrt(2 * np.pi) * 0.1 * (0.5 * (1 + np.cos(np.pi / 1.2))) ** 2
    assert np.trapezoid(carbon, settings.angle_grid) == pytest.approx(area, rel=1e-4)
    assert np.trapezoid(hydrogen, settings.angle_grid) == pytest.approx(2.5 * area, rel=1e-4)
    assert np.degrees(settings.angle_grid[np.argmax(carbon)]) == pytest.approx(90)
