"""Point defects in diamond silicon: counts, stoichiometry and sites known from the diamond structure."""

import numpy as np
import pytest
from ase.build import bulk
from ase.neighborlist import neighbor_list

from aiida_mlipgen.science.defects import PointDefectSettings, point_defect_structures

A_SI = 5.43


@pytest.fixture
def cubic_silicon():
    """The 8-atom conventional cell of diamond Si."""
    return bulk('Si', 'diamond', a=A_SI, cubic=True)


def test_vacancy_and_voronoi_interstitials(cubic_silicon):
    frames = point_defect_structures(cubic_silicon, PointDefectSettings(interstitials=['Si']))
    kinds = [atoms.info['generator'] for atoms in frames]
    # diamond has one distinct site (one vacancy) and two interstitial sites: tetrahedral and hexagonal
    assert kinds == ['vacancy', 'interstitial', 'interstitial']
    assert [len(atoms) for atoms in frames] == [7, 9, 9]
    assert frames[0].info['defect'] == 'v_Si'
    # The tetrahedral site has 4 neighbours at a sqrt(3) / 4 = 2.351 A; the hexagonal one has 6 at a sqrt(11) / 8.
    nearest = []
    for atoms in frames[1:]:
        first, distances = neighbor_list('id', atoms, 2.6)
        interstitial = atoms.info['defect_site_index']
        assert atoms[interstitial].symbol == 'Si'
        nearest.append(np.sort(distances[first == interstitial]))
    counts = sorted(len(distances) for distances in nearest)
    assert counts == [4, 6]
    tetrahedral = next(d for d in nearest if len(d) == 4)
    hexagonal = next(d for d in nearest if len(d) == 6)
    np.testing.assert_allclose(tetrahedral, A_SI * np.sqrt(3) / 4, atol=1e-3)
    np.testing.assert_allclose(hexagonal, A_SI * np.sqrt(11) / 8, atol=1e-3)


def test_substitutions_and_antisites(cubic_silicon):
    frames = point_defect_structures(
        cubic_silicon, PointDefectSettings(vacancies=False, substitutions={'Si': ['Ge', 'C'], 'Al': ['Ga']})
    )
    assert [atoms.get_chemical_formula() for atoms in frames] == ['GeSi7', 'CSi7']  # Al is not in the host: skipped
    assert [atoms.info['defect'] for atoms in frames] == ['Ge_Si', 'C_Si']
    np.testing.assert_allclose(frames[0].cell.array, cubic_silicon.cell.array)

    host = cubic_silicon.copy()
    host[0].symbol = 'Ge'
    antisites = point_defect_structures(host, PointDefectSettings(vacancies=False, antisites=True))
    assert {atoms.info['generator'] for atoms in antisites} == {'antisite'}
    # every antisite changes the species of exactly one site of the host
    for atoms in antisites:
        assert len(atoms) == 8
        changed = np.array(atoms.get_chemical_symbols()) != np.array(host.get_chemical_symbols())
        assert np.count_nonzero(changed) == 1


def test_supercell_host_and_size_cap():
    primitive = bulk('Si', 'diamond', a=A_SI)
    frames = point_defect_structures(primitive, PointDefectSettings(min_atoms=16))
    assert [len(atoms) for atoms in frames] == [15]
    assert frames[0].info['supercell_repetitions'] == [2, 2, 2]
    with pytest.raises(ValueError, match='more than max_atoms=8'):
        point_defect_structures(primitive, PointDefectSettings(interstitials=['Si'], min_atoms=8, max_atoms=8))


def test_settings_are_checked():
    with pytest.raises(ValueError, match='unknown point_defects keys'):
        PointDefectSettings.from_dict({'vacancy': True})
    with pytest.raises(ValueError, match='list of chemical symbols'):
        PointDefectSettings(interstitials='Si')
    with pytest.raises(ValueError, match='must be a list of symbols'):
        PointDefectSettings(substitutions={'Si': 'Ge'})
