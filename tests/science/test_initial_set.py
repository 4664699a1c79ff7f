"""The initial-set recipe."""

import numpy as np
import pytest
from ase.build import bulk

from aiida_mlipgen.science.initial_set import InitialSetRecipe, initial_frames


def test_recipe_counts_and_provenance_in_info():
    recipe = InitialSetRecipe(
        min_atoms=8, rattle_amplitudes_A=(0.02, 0.1), copies_per_amplitude=2, volume_changes_percent=(-5, 5)
    )
    frames = initial_frames([bulk('Si', 'diamond', a=5.43), bulk('Ge', 'diamond', a=5.66)], recipe)
    per_seed = 1 + 2 * 2 + 2 + 2  # seed, rattled, strained, strained+rattled
    assert len(frames) == 2 * per_seed
    assert all(len(atoms) >= 8 for atoms in frames)
    assert [atoms.info['seed_index'] for atoms in frames] == [0] * per_seed + [1] * per_seed
    generators = [atoms.info.get('generator') for atoms in frames[:per_seed]]
    assert generators.count('rattle') == 4 + 2 and generators.count('volume_strain') == 2
    strained_rattled = [
        a for a in frames[:per_seed] if a.info.get('generator') == 'rattle' and 'volume_change_percent' in a.info
    ]
    assert len(strained_rattled) == 2 and all(a.info['amplitude_A'] == 0.02 for a in strained_rattled)
    volumes = sorted(atoms.get_volume() for atoms in frames[:per_seed])
    assert volumes[0] == pytest.approx(0.95 * frames[0].get_volume())


def test_same_recipe_same_frames():
    recipe = InitialSetRecipe(rattle_amplitudes_A=(0.05,))
    first = initial_frames([bulk('Si', 'diamond', a=5.43)], recipe)
    second = initial_frames([bulk('Si', 'diamond', a=5.43)], recipe)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.positions, b.positions)


def test_bad_recipes_are_refused():
    with pytest.raises(ValueError, match='unknown initial-set keys'):
        InitialSetRecipe.from_dict({'rattle_amplitude': [0.1]})
    with pytest.raises(ValueError, match='at least one seed'):
        initial_frames([], InitialSetRecipe())
    with pytest.raises(ValueError, match='rattle amplitude'):
        initial_frames([bulk('Si')], InitialSetRecipe(rattle_amplitudes_A=()))
