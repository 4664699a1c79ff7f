"""Tests of the initial-set generators: sizes, amplitudes and volumes as asked, inputs untouched."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from aiida_mlipgen.science.generators import (
    make_supercell,
    perpendicular_widths,
    rattled_copies,
    shear_strained_copies,
    supercell_repetitions,
    volume_strained_copies,
)


@pytest.fixture
def silicon():
    """The 2-atom fcc primitive cell of diamond Si, labelled, with an info key of its own."""
    atoms = bulk('Si', 'diamond', a=5.43)
    atoms.calc = SinglePointCalculator(atoms, energy=-10.0, forces=np.zeros((2, 3)))
    atoms.info['source'] = 'seed'
    return atoms


def _snapshot(atoms):
    return atoms.positions.copy(), atoms.cell.array.copy(), dict(atoms.info)


def test_perpendicular_widths_of_fcc_primitive_cell(silicon):
    # fcc primitive cell of cubic constant a: face distance a / sqrt(3).
    np.testing.assert_allclose(perpendicular_widths(silicon), 5.43 / np.sqrt(3))


def test_supercell_by_width(silicon):
    # width 3.135 A: 10 A needs ceil(10 / 3.135) = 4 repetitions along each vector.
    assert supercell_repetitions(silicon, min_width_A=10.0) == [4, 4, 4]
    supercell = make_supercell(silicon, min_width_A=10.0)
    assert len(supercell) == 2 * 64
    assert np.all(perpendicular_widths(supercell) >= 10.0)
    assert supercell.info['generator'] == 'supercell'
    assert supercell.info['supercell_repetitions'] == [4, 4, 4]
    assert supercell.info['source'] == 'seed'
    assert supercell.calc is None


def test_supercell_by_atom_count_grows_the_thinnest_direction():
    cell = Atoms('Si', cell=[2.0, 3.0, 5.0], pbc=True)
    # 1 atom -> at least 6, growing the thinnest direction each time:
    # widths (2,3,5) -> x: (4,3,5) -> y: (4,6,5) -> x: (6,6,5), i.e. 3*2*1 = 6 atoms.
    assert supercell_repetitions(cell, min_atoms=6) == [3, 2, 1]
    assert len(make_supercell(cell, min_atoms=6)) == 6


def test_supercell_combines_width_and_count_and_skips_non_periodic_directions():
    slab = Atoms('Si', cell=[2.0, 2.0, 20.0], pbc=[True, True, False])
    assert supercell_repetitions(slab, min_atoms=9, min_width_A=3.0) == [3, 3, 1]


def test_supercell_bad_input(silicon):
    with pytest.raises(ValueError, match='give min_atoms'):
        make_supercell(silicon)
    with pytest.raises(ValueError, match='min_atoms'):
        make_supercell(silicon, min_atoms=0)
    with pytest.raises(ValueError, match='min_width_A'):
        make_supercell(silicon, min_width_A=-1.0)
    with pytest.raises(ValueError, match='periodic direction'):
        make_supercell(Atoms('Si', cell=[2, 2, 2], pbc=False), min_atoms=2)


def test_rattle_amplitude_statistics(silicon):
    supercell = make_supercell(silicon, min_atoms=250)  # 2 * 5^3 = 250 atoms, 750 components
    before = _snapshot(supercell)
    copies = rattled_copies(supercell, [0.01, 0.1], copies_per_amplitude=2, seed=7)
    assert [copy.info['amplitude_A'] for copy in copies] == [0.01, 0.01, 0.1, 0.1]
    for copy in copies:
        displacement = copy.positions - supercell.positions
        # Sample std of 750 Gaussian components: relative standard error 1/sqrt(1500) = 2.6 %.
        assert displacement.std() == pytest.approx(copy.info['amplitude_A'], rel=0.1)
        assert abs(displacement.mean()) < 4 * copy.info['amplitude_A'] / np.sqrt(750)
        assert copy.info['generator'] == 'rattle'
        assert copy.info['seed'] == 7
        np.testing.assert_array_equal(copy.cell.array, supercell.cell.array)
    assert copies[0].info['copy_index'] == 0 and copies[1].info['copy_index'] == 1
    assert not np.allclose(copies[0].positions, copies[1].positions)
    again = rattled_copies(supercell, [0.01, 0.1], copies_per_amplitude=2, seed=7)
    for first, second in zip(copies, again, strict=True):
        np.testing.assert_array_equal(first.positions, second.positions)
    after = _snapshot(supercell)
    np.testing.assert_array_equal(before[0], after[0])
    assert before[2] == after[2]


def test_rattle_bad_input(silicon):
    with pytest.raises(ValueError, match='positive'):
        rattled_copies(silicon, [0.0])
    with pytest.raises(ValueError, match='copies_per_amplitude'):
        rattled_copies(silicon, [0.1], copies_per_amplitude=0)


def test_volume_strain_exactly_as_asked(silicon):
    before = _snapshot(silicon)
    copies = volume_strained_copies(silicon, [-10, -2.5, 5, 10])
    for copy, change in zip(copies, [-10, -2.5, 5, 10], strict=True):
        assert copy.get_volume() == pytest.approx(silicon.get_volume() * (1 + change / 100), rel=1e-12)
        np.testing.assert_allclose(copy.get_scaled_positions(), silicon.get_scaled_positions(), atol=1e-12)
        assert copy.info['generator'] == 'volume_strain'
        assert copy.info['volume_change_percent'] == change
        assert copy.calc is None
    after = _snapshot(silicon)
    np.testing.assert_array_equal(before[1], after[1])
    assert before[2] == after[2]
    assert silicon.calc is not None


def test_shear_keeps_volume_and_fractional_coordinates(silicon):
    copies = shear_strained_copies(silicon, [0.02, -0.04], planes=('xy', 'yz'))
    assert [(copy.info['shear_strain'], copy.info['shear_plane']) for copy in copies] == [
        (0.02, 'xy'),
        (0.02, 'yz'),
        (-0.04, 'xy'),
        (-0.04, 'yz'),
    ]
    cubic = bulk('Si', 'diamond', a=5.43, cubic=True)
    (sheared,) = shear_strained_copies(cubic, [0.02], planes=('xz',))
    # a = L(1, 0, e)/s and c = L(e, 0, 1)/s after the xz shear, so cos(a, c) = 2e / (1 + e^2).
    a, _, c = sheared.cell.array
    assert np.dot(a, c) / np.linalg.norm(a) / np.linalg.norm(c) == pytest.approx(2 * 0.02 / (1 + 0.02**2))
    for copy in [*copies, sheared]:
        parent = cubic if copy is sheared else silicon
        assert copy.get_volume() == pytest.approx(parent.get_volume(), rel=1e-12)
        np.testing.assert_allclose(copy.get_scaled_positions(), parent.get_scaled_positions(), atol=1e-12)


def test_strain_bad_input(silicon):
    with pytest.raises(ValueError, match='-100'):
        volume_strained_copies(silicon, [-100])
    with pytest.raises(ValueError, match='shear planes'):
        shear_strained_copies(silicon, [0.01], planes=('xx',))
    with pytest.raises(ValueError, match=r'\|e\| < 1'):
        shear_strained_copies(silicon, [1.5])
    with pytest.raises(ValueError, match='3D cell'):
        volume_strained_copies(Atoms('H2', positions=[[0, 0, 0], [0.7, 0, 0]]), [5])
