"""DatasetData: lossless storage of frames and labels, queryable summary attributes."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read

from aiida_mlipgen.data.dataset import DatasetData


def labelled_frame(seed: int, repeat=(1, 1, 1), pbc=(True, True, True)) -> Atoms:
    rng = np.random.default_rng(seed)
    atoms = bulk('Si', 'diamond', a=5.43).repeat(repeat)
    atoms.rattle(0.05, seed=seed)
    atoms.cell[0, 1] += 0.0123456789012345  # a skewed cell with digits beyond 8 decimals
    atoms.pbc = pbc
    atoms.calc = SinglePointCalculator(
        atoms,
        energy=-10.8 * len(atoms) + rng.normal() / 3,
        forces=rng.normal(size=(len(atoms), 3)),
        stress=rng.normal(size=6) * 1e-2,
    )
    return atoms


def test_round_trip_is_exact(aiida_profile):
    frames = [labelled_frame(1), labelled_frame(2, (2, 1, 1), pbc=(True, True, False))]
    node = DatasetData(frames).store()
    loaded = orm.load_node(node.pk).get_atoms()
    for original, copy in zip(frames, loaded, strict=True):
        np.testing.assert_array_equal(copy.positions, original.positions)
        np.testing.assert_array_equal(copy.cell.array, original.cell.array)
        np.testing.assert_array_equal(copy.pbc, original.pbc)
        assert copy.get_potential_energy() == original.get_potential_energy()
        np.testing.assert_array_equal(copy.get_forces(), original.get_forces())
        np.testing.assert_array_equal(copy.get_stress(), original.get_stress())
        assert copy.get_chemical_symbols() == original.get_chemical_symbols()


def test_summary_attributes(aiida_profile):
    frames = [labelled_frame(1), labelled_frame(2, (2, 1, 1))]
    node = DatasetData(frames)
    attributes = node.base.attributes.all
    assert attributes['num_frames'] == 2
    assert attributes['num_atoms'] == 6
    assert (attributes['num_atoms_min'], attributes['num_atoms_max']) == (2, 4)
    assert attributes['species'] == ['Si']
    assert attributes['has_energy'] and attributes['has_forces'] and attributes['has_stress']
    per_atom = [atoms.get_potential_energy() / len(atoms) for atoms in frames]
    assert attributes['energy_per_atom']['min'] == pytest.approx(min(per_atom))
    assert attributes['energy_per_atom']['mean'] == pytest.approx(np.mean(per_atom))
    components = np.concatenate([atoms.get_forces().ravel() for atoms in frames])
    assert attributes['force_component']['std'] == pytest.approx(components.std())
    assert attributes['force_component']['max'] == pytest.approx(components.max())


def test_unlabelled_frames_and_queries(aiida_profile):
    unlabelled = DatasetData.from_structures([orm.StructureData(ase=bulk('Si', 'diamond', a=5.43)).store()]).store()
    assert not unlabelled.base.attributes.get('has_forces')
    assert 'energy_per_atom' not in unlabelled.base.attributes.all
    assert 'structure_uuid' in unlabelled.get_atoms(0).info
    labelled = DatasetData([labelled_frame(3)]).store()
    query = orm.QueryBuilder().append(DatasetData, filters={'attributes.has_forces': True}, project='id')
    assert labelled.pk in query.all(flat=True) and unlabelled.pk not in query.all(flat=True)


def test_hash_identifies_content(aiida_profile):
    assert DatasetData([labelled_frame(1)]).sha256 == DatasetData([labelled_frame(1)]).sha256
    assert DatasetData([labelled_frame(1)]).sha256 != DatasetData([labelled_frame(2)]).sha256


def test_export_reads_back_with_ase_and_from_file(aiida_profile, tmp_path):
    node = DatasetData([labelled_frame(4)])
    path = node.export(tmp_path / 'set.extxyz')
    assert read(path, format='extxyz').get_forces() == pytest.approx(labelled_frame(4).get_forces())
    assert DatasetData(filepath=path).sha256 == node.sha256


def test_refuses_empty_and_ambiguous_input(aiida_profile, tmp_path):
    with pytest.raises(ValueError, match='at least one frame'):
        DatasetData([])
    with pytest.raises(ValueError, match='exactly one'):
        DatasetData()
