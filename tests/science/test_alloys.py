"""Alloys: exact stoichiometry, Vegard volumes, and SQS pair correlations of the random alloy."""

import numpy as np
import pytest
from ase.build import bulk

from aiida_mlipgen.science.alloys import (
    AlloySettings,
    alloy_structures,
    random_alloy,
    site_counts,
    warren_cowley,
)

#: First and second neighbour shells of diamond (a ~ 5.4-5.6 A): 2.35-2.45 A and 3.84-4.0 A.
FIRST_SHELL = (2.0, 2.7)
SECOND_SHELL = (3.5, 4.2)
VOLUMES = {'Si': 20.02, 'Ge': 22.64}  # A^3/atom: a^3 / 8 at a = 5.431 and 5.658 A


@pytest.fixture
def silicon():
    return bulk('Si', 'diamond', a=5.43)


def test_warren_cowley_of_known_orderings():
    zincblende = bulk('SiGe', 'zincblende', a=5.54)  # every Si has 4 Ge first neighbours: full ordering
    assert warren_cowley(zincblende, 'Si', 'Ge', FIRST_SHELL) == pytest.approx(-1.0)
    # second neighbours of a Si are all Si: alpha = 1 - 0 / 0.5
    assert warren_cowley(zincblende, 'Si', 'Ge', SECOND_SHELL) == pytest.approx(1.0)


def test_sqs_matches_the_random_alloy_and_the_composition(silicon):
    settings = AlloySettings(
        compositions=[{'Si': 0.5, 'Ge': 0.5}], min_atoms=16, copies=2, atomic_volumes_A3=VOLUMES, seed=3
    )
    frames = alloy_structures(silicon, settings)
    assert len(frames) == 2
    for atoms in frames:
        assert atoms.get_chemical_formula() == 'Ge8Si8'
        assert atoms.info['generator'] == 'sqs' and atoms.info['composition'] == 'Ge0.5Si0.5'
        # Vegard's law in volume: 8 x 20.02 + 8 x 22.64 A^3
        assert atoms.get_volume() == pytest.approx(8 * (VOLUMES['Si'] + VOLUMES['Ge']))
        # a 16-atom diamond cell admits an occupation whose first two pair shells are exactly random
        assert warren_cowley(atoms, 'Si', 'Ge', FIRST_SHELL) == pytest.approx(0.0, abs=1e-9)
        assert warren_cowley(atoms, 'Si', 'Ge', SECOND_SHELL) == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(frames[0].get_scaled_positions(), frames[1].get_scaled_positions())


def test_random_alloy_has_exact_counts(silicon):
    supercell = silicon.repeat((2, 2, 2))
    alloy = random_alloy(supercell, {'Si': 0.75, 'Ge': 0.25}, 'Si', seed=1)
    assert alloy.get_chemical_formula() == 'Ge4Si12'
    assert random_alloy(supercell, {'Si': 0.75, 'Ge': 0.25}, 'Si', seed=1) == alloy  # reproducible
    assert random_alloy(supercell, {'Si': 0.75, 'Ge': 0.25}, 'Si', seed=2) != alloy
    frames = alloy_structures(silicon, AlloySettings(compositions=[{'Si': 0.75, 'Ge': 0.25}], method='random'))
    assert [atoms.get_chemical_formula() for atoms in frames] == ['Ge2Si6']
    assert frames[0].info['generator'] == 'random_alloy'


def test_inexact_compositions_and_missing_sublattices():
    assert site_counts(8, {'Si': 0.25, 'Ge': 0.75}) == {'Si': 2, 'Ge': 6}
    with pytest.raises(ValueError, match='not exact on 8 sites'):
        site_counts(8, {'Si': 0.3, 'Ge': 0.7})
    germanium = bulk('Ge', 'diamond', a=5.66)
    assert alloy_structures(germanium, AlloySettings(compositions=[{'Si': 0.5, 'Ge': 0.5}], sublattice='Si')) == []
    with pytest.raises(ValueError, match='must sum to 1'):
        AlloySettings(compositions=[{'Si': 0.5, 'Ge': 0.6}])
    with pytest.raises(ValueError, match='more than max_atoms=8'):
        alloy_structures(germanium, AlloySettings(compositions=[{'Si': 0.5, 'Ge': 0.5}], min_atoms=16, max_atoms=8))
