"""Calcfunctions that make, merge and split datasets."""

import numpy as np
import pytest
from aiida import orm
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from aiida_mlipgen.calculations.dataset_operations import generate_initial_set, merge_datasets, split_dataset
from aiida_mlipgen.data.dataset import DatasetData


def labelled(count: int, settings_hash: str | None = 'abc') -> DatasetData:
    frames = []
    for index in range(count):
        atoms = bulk('Si', 'diamond', a=5.43 + 0.01 * index)
        atoms.calc = SinglePointCalculator(atoms, energy=-10.0 - index, forces=np.zeros((2, 3)))
        atoms.info['index'] = index
        frames.append(atoms)
    dataset = DatasetData(frames)
    if settings_hash:
        dataset.set_labelling_settings({'sha256': settings_hash})
    return dataset


def test_initial_set_is_traceable_to_its_seeds(aiida_profile):
    seeds = {'si': orm.StructureData(ase=bulk('Si', 'diamond', a=5.43))}
    recipe = orm.Dict({'min_atoms': 8, 'rattle_amplitudes_A': [0.05], 'copies_per_amplitude': 2})
    dataset = generate_initial_set(recipe=recipe, **seeds)
    assert dataset.num_frames == 1 + 2 + 4 + 4
    assert dataset.creator.inputs.si.uuid == seeds['si'].uuid
    assert {atoms.info['seed_key'] for atoms in dataset.get_atoms()} == {'si'}
    assert not dataset.base.attributes.get('has_forces')


def test_merge_keeps_order_and_settings(aiida_profile):
    merged = merge_datasets(a=labelled(2), b=labelled(3))
    assert merged.num_frames == 5
    assert [atoms.info['index'] for atoms in merged.get_atoms()] == [0, 1, 0, 1, 2]
    assert merged.labelling_settings == {'sha256': 'abc'}


def test_merge_refuses_mixed_dft_settings(aiida_profile):
    with pytest.raises(ValueError, match='different DFT settings'):
        merge_datasets(a=labelled(2, 'abc'), b=labelled(2, 'xyz'))


def test_split_is_a_partition(aiida_profile):
    source = labelled(10)
    parts = split_dataset(source, orm.Dict({'train': 0.8, 'validation': 0.1, 'test': 0.1}), orm.Int(1))
    assert [parts[name].num_frames for name in ('train', 'validation', 'test')] == [8, 1, 1]
    indices = sorted(atoms.info['index'] for part in parts.values() for atoms in part.get_atoms())
    assert indices == list(range(10))
    assert parts['test'].labelling_settings == {'sha256': 'abc'}
