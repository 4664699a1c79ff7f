"""Bad loop input is refused before anything runs, with a message that says what to fix."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase.calculators.singlepoint import SinglePointCalculator

from aiida_mlipgen.data.dataset import DatasetData


def labelled(frames):
    for atoms in frames:
        atoms.calc = SinglePointCalculator(atoms, energy=-10.0, forces=np.zeros((len(atoms), 3)))
    return DatasetData(frames)


def assert_refused(builder, match):
    before = orm.QueryBuilder().append(orm.ProcessNode).count()
    with pytest.raises(ValueError, match=match):
        run_get_node(builder)
    assert orm.QueryBuilder().append(orm.ProcessNode).count() == before


def test_no_seed_structures(loop_builder):
    builder = loop_builder()
    builder.seed_structures = {}
    assert_refused(builder, 'give `seed_structures`')


def test_budget_zero(loop_builder):
    builder = loop_builder()
    builder.max_dft_calls = orm.Int(0)
    assert_refused(builder, 'budget must be at least one')


def test_inverted_trust_window(loop_builder):
    builder = loop_builder()
    builder.trust_levels = orm.Dict({'force_trust_lo': 0.3, 'force_trust_hi': 0.1})
    assert_refused(builder, r'force trust window \(eV/A\): lo \(0.3\) must be smaller than hi \(0.1\)')


@pytest.mark.parametrize(
    ('port', 'value', 'match'),
    [
        ('selection', {'force_trust_lo': 0.05}, r"selection parameters may not set \['force_trust_lo'\]"),
        ('selection', {'min_accurate_fraction': 0.8}, r"may not set \['min_accurate_fraction'\]"),
        ('exploration_schedule', [{'force_trust_hi': 0.3}], r"`exploration_schedule` may not set \['force_trust_hi'\]"),
        ('min_accurate_fraction', 1.5, r'min_accurate_fraction must be in \(0, 1\]'),
    ],
)
def test_shared_settings_have_one_place(loop_builder, port, value, match):
    """The trust levels and the accurate fraction are the loop's own inputs, never a child's dict keys."""
    builder = loop_builder()
    builder[port] = {dict: orm.Dict, list: orm.List, float: orm.Float}[type(value)](value)
    assert_refused(builder, match)


def test_the_loop_hands_its_trust_levels_to_exploration_through_the_port(loop_builder):
    builder = loop_builder()
    assert builder.trust_levels.get_dict() == {'force_trust_lo': 0.0, 'force_trust_hi': 1000.0}
    assert 'trust_levels' not in builder.explore  # the loop's own port, not the child's
    assert not {'trust_lo', 'trust_hi', 'force_trust_lo', 'force_trust_hi'} & set(builder.explore.conditions.get_dict())


def test_test_set_sharing_frames_with_the_training_set(loop_builder):
    from ase.build import bulk

    frames = [bulk('Si', 'diamond', a=5.43 + 0.01 * index) for index in range(3)]
    builder = loop_builder()
    builder.training_dataset = labelled([atoms.copy() for atoms in frames])
    builder.test_dataset = labelled([frames[1].copy()])
    assert_refused(builder, 'shares 1 frame')


def test_unknown_initial_set_key(loop_builder):
    builder = loop_builder()
    builder.initial_set = orm.Dict({'rattle_amplitude': [0.1]})
    assert_refused(builder, 'unknown initial-set keys')


def test_builder_needs_every_code(loop_codes, silicon_seed):
    from aiida_mlipgen.workflows.active_learning import ActiveLearningWorkChain

    codes = dict(loop_codes)
    del codes['explore']
    with pytest.raises(ValueError, match='codes missing for: explore'):
        ActiveLearningWorkChain.get_builder_from_protocol(codes, silicon_seed, protocol='fast')


def test_exploration_test_set_sharing_frames_with_the_training_set(loop_builder):
    from ase.build import bulk

    frames = [bulk('Si', 'diamond', a=5.43 + 0.01 * index) for index in range(3)]
    builder = loop_builder()
    builder.training_dataset = labelled([atoms.copy() for atoms in frames])
    builder.test_dataset = labelled([bulk('Si', 'diamond', a=5.6)])
    builder.exploration_test_dataset = labelled([frames[2].copy()])
    assert_refused(builder, '`exploration_test_dataset` shares 1 frame')


@pytest.mark.parametrize(
    ('port', 'value', 'match'),
    [
        ('exploration_test', {'per_condition': -1}, 'exploration_test.per_condition'),
        ('exploration_test', {'draws': 2}, 'unknown exploration_test keys'),
        ('adaptive_trust', {'enabled': True, 'max_false_negative_fraction': 1.5}, 'max_false_negative_fraction'),
        ('adaptive_trust', {'enabled': True, 'tolerance': 1}, 'unknown adaptive_trust keys'),
    ],
)
def test_bad_exploration_test_and_adaptive_settings(loop_builder, port, value, match):
    builder = loop_builder()
    builder[port] = orm.Dict(value)
    assert_refused(builder, match)


def test_a_schedule_entry_naming_a_structure_that_is_not_explored(loop_builder):
    builder = loop_builder()
    builder.exploration_schedule = orm.List(
        [{'temperatures_K': {'si2': [300]}}, {'temperatures_K': {'liquid': [2500]}}]
    )
    assert_refused(builder, r'`exploration_schedule\[1\]`: exploration conditions: `temperatures_K` names structures')


def test_a_schedule_entry_replaces_the_temperatures_and_merges_the_rest():
    from aiida_mlipgen.workflows.active_learning_checks import iteration_conditions

    conditions = {'temperatures_K': {'crystal': [300], 'liquid': [2500]}, 'steps': 100, 'stride': 10}
    merged = iteration_conditions(conditions, {'temperatures_K': {'crystal': [900]}, 'steps': 200})
    assert merged == {'temperatures_K': {'crystal': [900]}, 'steps': 200, 'stride': 10}
    assert iteration_conditions(conditions, {})['temperatures_K'] == conditions['temperatures_K']
