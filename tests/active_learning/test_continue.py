"""Continuing a finished loop from its outputs: the DFT settings are checked before any DFT is spent."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import run_get_node
from aiida.manage.caching import enable_caching


def continued(loop_builder, results, seed, overrides=None):
    """A new loop from a finished loop's datasets and committee (no seeds: exploration starts from ``seed``)."""
    builder = loop_builder({'max_iterations': 1, **(overrides or {})})
    builder.seed_structures = {}
    builder.exploration_structures = seed
    for name in ('training_dataset', 'validation_dataset', 'test_dataset', 'exploration_test_dataset'):
        builder[name] = results[name]
    builder.parent_models = dict(results['models'])
    return builder


def test_continue_from_outputs_checks_the_settings_then_labels_with_them(loop_builder, silicon_seed):
    with enable_caching():  # the first loop is the one test_loop.py runs: taken from the cache there
        first_results, first = run_get_node(loop_builder({'max_iterations': 1}))
    assert first.is_finished_ok, first.exit_message
    settings = first_results['training_dataset'].labelling_settings

    # Other DFT settings (a finer k-point mesh): refused before anything runs, naming what differs.
    before = orm.QueryBuilder().append(orm.ProcessNode).count()
    other = continued(loop_builder, first_results, silicon_seed, {'label': {'pw': {'kpoints_distance': 0.4}}})
    with pytest.raises(ValueError, match='`training_dataset`: the labelling settings differ.*kpoints_distance'):
        run_get_node(other)
    assert orm.QueryBuilder().append(orm.ProcessNode).count() == before

    # The same settings: the loop goes on from the old committee and the fixed test set.
    results, node = run_get_node(continued(loop_builder, first_results, silicon_seed))
    assert node.is_finished_ok, node.exit_message
    called = node.base.links.get_outgoing(link_type=LinkType.CALL_WORK).all_link_labels()
    called += node.base.links.get_outgoing(link_type=LinkType.CALL_CALC).all_link_labels()
    assert 'label_initial_set' not in called and not any(label.startswith('generate_initial') for label in called)
    (training,) = [child for child in node.called if child.process_label == 'TrainingWorkChain']
    assert {model.uuid for model in training.inputs.parent_models.values()} == {
        model.uuid for model in first_results['models'].values()
    }  # warm-started from the committee it continues
    assert results['test_dataset'].uuid == first_results['test_dataset'].uuid
    labellings = [child for child in node.called if child.process_label == 'LabellingWorkChain']
    assert labellings, 'the continued loop labelled nothing'
    for labelling in labellings:  # every new label was checked against the continued training set
        assert labelling.inputs.reference_dataset.uuid == first_results['training_dataset'].uuid
    assert results['training_dataset'].labelling_settings['sha256'] == settings['sha256']
    assert results['training_dataset'].num_frames >= first_results['training_dataset'].num_frames
