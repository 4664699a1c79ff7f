"""The initial-set recipe runs the structure generators it names, on every seed they apply to."""

import pytest
from ase.build import bulk

from aiida_mlipgen.science.initial_set import InitialSetRecipe, initial_frames

PLAIN = {'rattle_amplitudes_A': [0.05], 'copies_per_amplitude': 1, 'volume_changes_percent': [], 'include_seed': False}


def test_recipe_adds_generated_structures_per_seed():
    recipe = InitialSetRecipe.from_dict(
        {
            **PLAIN,
            'min_atoms': 8,
            'point_defects': {'vacancies': True},
            'alloys': {'compositions': [{'Si': 0.5, 'Ge': 0.5}], 'sublattice': 'Si', 'min_atoms': 4},
            'surfaces': {'miller_indices': [[1, 0, 0]], 'vacuum_A': 6.0},
        }
    )
    seeds = [bulk('Si', 'diamond', a=5.43), bulk('Ge', 'diamond', a=5.66)]
    frames = initial_frames(seeds, recipe)
    made = [(atoms.info['seed_index'], atoms.info['generator'], atoms.get_chemical_formula()) for atoms in frames]
    assert made == [
        (0, 'rattle', 'Si8'),
        (0, 'vacancy', 'Si7'),  # the recipe's min_atoms: the host is the 8-atom supercell
        (0, 'surface', 'Si8'),
        (0, 'sqs', 'Ge2Si2'),  # only the Si seed holds the mixed sublattice
        (1, 'rattle', 'Ge8'),
        (1, 'vacancy', 'Ge7'),
        (1, 'surface', 'Ge8'),
    ]


def test_recipe_refuses_bad_generator_settings_when_made():
    with pytest.raises(ValueError, match='unknown surfaces keys'):
        InitialSetRecipe.from_dict({'surfaces': {'vacuum': 10.0}})
    with pytest.raises(ValueError, match='must sum to 1'):
        InitialSetRecipe.from_dict({'alloys': {'compositions': [{'Si': 0.4, 'Ge': 0.4}]}})
    with pytest.raises(ValueError, match='covers'):
        initial_frames([bulk('Ge', 'diamond', a=5.66)], InitialSetRecipe.from_dict({**PLAIN, 'melt_quench': {}}))
