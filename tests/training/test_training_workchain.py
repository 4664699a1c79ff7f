"""TrainingWorkChain with the real nequip-train: a committee survives a member whose job dies, within limits."""

from __future__ import annotations

import pytest
from aiida.engine import run_get_node

from aiida_mlipgen.data.model import ModelData
from aiida_mlipgen.workflows.training import TrainingWorkChain

#: Real nequip-train runs (tens of seconds each on a shared 2-core machine).
pytestmark = pytest.mark.slow


def _committee(code, training, validation, hyperparameters, **inputs):
    overrides = {'train': {'nequip': {'hyperparameters': hyperparameters}}, **inputs}
    return TrainingWorkChain.get_builder_from_protocol(code, training, validation, protocol='fast', overrides=overrides)


def test_committee_finishes_without_the_member_that_failed(
    failing_seed_code, silicon_datasets, tiny_hyperparameters, caplog
):
    """Seeds 12, 13, 14: the job of seed 13 dies on its (simulated) node; the other two make the committee.

    No validation set is given: every member holds out the same 10 % of the training frames.
    """
    training = silicon_datasets[0]
    builder = _committee(
        failing_seed_code, training, None, tiny_hyperparameters, committee_size=3, min_members=2, seed=12
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)

    assert sorted(results['models']) == ['member_0', 'member_2']
    models = [results['models'][name] for name in ('member_0', 'member_2')]
    assert all(isinstance(model, ModelData) for model in models)
    assert models[0].sha256 != models[1].sha256  # different seeds, different models
    configs = [model.get_config() for model in models]
    assert [config['seed'] for config in configs] == [12, 14]
    # ... and nothing else differs between the members' configs, the validation split included
    assert {**configs[0], 'seed': 0} == {**configs[1], 'seed': 0}
    assert configs[0]['data']['val_dataset']['seed'] == 0
    assert configs[0]['data']['val_dataset']['split_dict'] == {'train': 0.9, 'val': 0.1}
    assert all(model.training_dataset_uuid == training.uuid for model in models)

    summary = results['summary'].get_dict()
    assert summary['finished'] == ['member_0', 'member_2']
    assert list(summary['failed']) == ['member_1']
    assert 'exit status' in summary['failed']['member_1']
    forces = summary['metrics']['forces_mae_eV_per_A']
    values = [results['metrics'][name]['forces_mae_eV_per_A'] for name in ('member_0', 'member_2')]
    assert forces['min'] == min(values) and forces['max'] == max(values)

    # The process reports, as the log records `verdi process report` shows. Read from the logging stream
    # rather than the database: whether the database log handler is attached depends on what earlier
    # tests did to the global logging configuration.
    reports = caplog.text
    assert 'member_1 (seed 13) failed for good' in reports
    assert 'continuing with 2 of 3 members' in reports


def test_too_few_members_is_a_failure(failing_seed_code, silicon_datasets, tiny_hyperparameters):
    """With min_members equal to the committee size, losing one member fails the committee."""
    builder = _committee(
        failing_seed_code, *silicon_datasets, tiny_hyperparameters, committee_size=2, min_members=2, seed=12
    )
    results, node = run_get_node(builder)
    assert node.exit_status == TrainingWorkChain.exit_codes.ERROR_TOO_FEW_MEMBERS.status
    assert node.exit_message == 'Only 1 of 2 members finished, fewer than `min_members` (2).'
    assert 'models' not in results
