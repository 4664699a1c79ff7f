"""Silicon slabs: vacuum gap exactly as asked, surface normal along c, layer counts of the diamond structure."""

import numpy as np
import pytest
from ase.build import bulk

from aiida_mlipgen.science.surfaces import SurfaceSettings, set_vacuum, slab_structures, vacuum_gap

A_SI = 5.43


def test_slabs_have_the_vacuum_and_stoichiometry_asked():
    settings = SurfaceSettings(miller_indices=[[1, 0, 0], [1, 1, 1]], min_slab_A=6.0, vacuum_A=8.0)
    slabs = slab_structures(bulk('Si', 'diamond', a=A_SI), settings)
    assert [tuple(atoms.info['miller_index']) for atoms in slabs] == [(1, 0, 0), (1, 1, 1), (1, 1, 1)]
    # (111) has two terminations: cut through the widely spaced (shuffle) or closely spaced (glide) planes
    assert [atoms.info['termination'] for atoms in slabs] == [0, 0, 1]
    for atoms in slabs:
        assert vacuum_gap(atoms) == pytest.approx(8.0, abs=1e-9)
        assert set(atoms.get_chemical_symbols()) == {'Si'}
        assert atoms.pbc.all()
        # c is normal to the surface plane
        np.testing.assert_allclose(atoms.cell[2] @ atoms.cell[0], 0, atol=1e-9)
        np.testing.assert_allclose(atoms.cell[2] @ atoms.cell[1], 0, atol=1e-9)
        assert atoms.info['slab_thickness_A'] >= 6.0 - 1.5  # whole planes: at most one spacing short of the minimum

    surface_100 = slabs[0]
    # (100): one atom per a^2 / 2 per layer, layers a / 4 apart; pymatgen keeps whole cells (2 x 4 layers)
    area = np.linalg.norm(np.cross(surface_100.cell[0], surface_100.cell[1]))
    assert area == pytest.approx(A_SI**2 / 2)
    assert len(surface_100) == 8
    assert surface_100.info['slab_thickness_A'] == pytest.approx(7 * A_SI / 4)


def test_set_vacuum_moves_nothing_but_the_gap():
    slab = slab_structures(bulk('Si', 'diamond', a=A_SI), SurfaceSettings(miller_indices=[[1, 1, 0]]))[0]
    wider = set_vacuum(slab, 15.0)
    assert vacuum_gap(wider) == pytest.approx(15.0)
    np.testing.assert_allclose(
        np.sort(wider.get_all_distances(mic=False).ravel())[:40],
        np.sort(slab.get_all_distances(mic=False).ravel())[:40],
        atol=1e-9,
    )


def test_size_cap_and_settings():
    with pytest.raises(ValueError, match='more than max_atoms=4'):
        slab_structures(bulk('Si', 'diamond', a=A_SI), SurfaceSettings(miller_indices=[[1, 0, 0]], max_atoms=4))
    with pytest.raises(ValueError, match='not all zero'):
        SurfaceSettings(miller_indices=[[0, 0, 0]])
    with pytest.raises(ValueError, match='must be > 0'):
        SurfaceSettings(vacuum_A=0.0)
