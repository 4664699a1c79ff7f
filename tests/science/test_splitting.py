"""Splits and frame identity."""

import itertools

import pytest
from ase.build import bulk

from aiida_mlipgen.science.splitting import frame_identity, shared_frames, split_indices


def test_split_is_a_seeded_partition_with_the_asked_sizes():
    parts = split_indices(20, {'train': 0.8, 'validation': 0.1, 'test': 0.1}, seed=3)
    assert [len(part) for part in parts.values()] == [16, 2, 2]
    assert sorted(sum(parts.values(), [])) == list(range(20))
    assert parts == split_indices(20, {'train': 0.8, 'validation': 0.1, 'test': 0.1}, seed=3)
    assert parts != split_indices(20, {'train': 0.8, 'validation': 0.1, 'test': 0.1}, seed=4)


def test_small_sets_still_give_every_part_a_frame():
    parts = split_indices(5, {'train': 0.8, 'validation': 0.1, 'test': 0.1}, seed=0)
    assert [len(part) for part in parts.values()] == [3, 1, 1]


@pytest.mark.parametrize('order', list(itertools.permutations(['train', 'validation', 'test'])))
def test_the_split_does_not_depend_on_the_order_of_the_fractions(order):
    # PostgreSQL's JSONB returns a stored Dict's keys sorted by length (test, train, validation): the
    # split of a loop must be the same on every storage back-end.
    fractions = {'train': 0.6, 'validation': 0.2, 'test': 0.2}
    reference = split_indices(13, fractions, seed=0)
    parts = split_indices(13, {name: fractions[name] for name in order}, seed=0)
    assert parts == reference
    assert {name: len(part) for name, part in parts.items()} == {'train': 9, 'validation': 2, 'test': 2}


@pytest.mark.parametrize(
    ('num', 'fractions', 'match'),
    [
        (0, {'train': 1.0}, 'empty'),
        (10, {'train': 0.5, 'test': 0.4}, 'sum to 1'),
        (10, {'train': 1.2, 'test': -0.2}, 'non-negative'),
        (2, {'train': 0.8, 'validation': 0.1, 'test': 0.1}, 'cannot fill'),
    ],
)
def test_bad_splits_are_refused(num, fractions, match):
    with pytest.raises(ValueError, match=match):
        split_indices(num, fractions, seed=0)


def test_identity_sees_the_same_configuration_only():
    atoms = bulk('Si', 'diamond', a=5.43)
    moved = atoms.copy()
    moved.positions[1, 0] += 1e-3
    assert frame_identity(atoms) == frame_identity(atoms.copy())
    assert frame_identity(atoms) != frame_identity(moved)
    assert shared_frames([atoms, moved], [moved]) == [(1, 0)]
