"""NequipTrainParser on a calculation node built from stored real outputs (see fixtures/make_fixtures.py)."""

from __future__ import annotations

import shutil

import pytest
from aiida import orm
from aiida.common.links import LinkType

from aiida_mlipgen.calculations.nequip_train import NequipTrainCalculation
from aiida_mlipgen.parsers.nequip_train import NequipTrainParser
from tests.training.conftest import FIXTURES, TINY_HYPERPARAMETERS

EXIT = NequipTrainCalculation.exit_codes


@pytest.fixture
def parse(aiida_localhost, silicon_datasets, tmp_path):
    """Parse fixture ``case`` as the outputs of a ``NequipTrainCalculation``; return (outputs, exit status)."""

    def factory(case: str, temporary_files=(), scheduler_exit_status=None):
        node = orm.CalcJobNode(computer=aiida_localhost, process_type='aiida.calculations:mlipgen.nequip.train')
        node.set_option('resources', {'num_machines': 1, 'num_mpiprocs_per_machine': 1})
        inputs = {
            'training_dataset': silicon_datasets[0],
            'validation_dataset': silicon_datasets[1],
            'hyperparameters': orm.Dict(TINY_HYPERPARAMETERS),
            'seed': orm.Int(7),
        }
        for label, value in inputs.items():
            node.base.links.add_incoming(value.store(), LinkType.INPUT_CALC, label)
        node.store()
        if scheduler_exit_status is not None:
            node.set_exit_status(scheduler_exit_status)
        retrieved = orm.FolderData()
        retrieved.base.repository.put_object_from_tree(FIXTURES / case)
        retrieved.base.links.add_incoming(node, LinkType.CREATE, 'retrieved')
        retrieved.store()
        temporary = tmp_path / 'retrieved_temporary'
        temporary.mkdir()
        for source, name in temporary_files:
            shutil.copy(source, temporary / name)
        outputs, calcfunction = NequipTrainParser.parse_from_node(
            node, store_provenance=False, retrieved_temporary_folder=str(temporary)
        )
        return outputs, calcfunction.exit_status

    return factory


def test_finished_run_without_the_package_is_missing_output(parse):
    outputs, status = parse('finished')
    assert status == EXIT.ERROR_OUTPUT_FILES_MISSING.status
    # what could be parsed is attached before the failure is returned
    assert outputs['learning_curve'].get_array('epoch').tolist() == [0, 1, 2]
    assert outputs['config']['num_features'] == 8


def test_time_limit_attaches_the_checkpoint_to_resume_from(parse, tmp_path):
    checkpoint = tmp_path / 'last.ckpt'
    checkpoint.write_bytes(b'a checkpoint')
    outputs, status = parse('time_limit', temporary_files=[(checkpoint, 'last.ckpt')])
    assert status == EXIT.ERROR_OUT_OF_WALLTIME.status
    assert outputs['checkpoint'].get_content(mode='rb') == b'a checkpoint'
    assert 'learning_curve' in outputs


@pytest.mark.parametrize(
    ('case', 'scheduler_exit_code', 'exit_code'),
    [
        ('incomplete', EXIT.ERROR_SCHEDULER_OUT_OF_WALLTIME, EXIT.ERROR_OUT_OF_WALLTIME),
        ('crashed', EXIT.ERROR_SCHEDULER_OUT_OF_WALLTIME, EXIT.ERROR_OUT_OF_WALLTIME),
        ('incomplete', EXIT.ERROR_SCHEDULER_OUT_OF_MEMORY, EXIT.ERROR_OUT_OF_MEMORY),
    ],
)
def test_scheduler_kills_are_restartable(parse, case, scheduler_exit_code, exit_code):
    """A run the scheduler killed maps to the restartable code, even with the errors a kill leaves in the log."""
    _, status = parse(case, scheduler_exit_status=scheduler_exit_code.status)
    assert status == exit_code.status


@pytest.mark.parametrize(
    ('case', 'exit_code'),
    [
        ('non_finite', EXIT.ERROR_NON_FINITE_LOSS),
        ('out_of_memory', EXIT.ERROR_OUT_OF_MEMORY),
        ('crashed', EXIT.ERROR_TRAINING_FAILED),
        ('incomplete', EXIT.ERROR_TRAINING_FAILED),
    ],
)
def test_failures_map_to_exit_codes(parse, case, exit_code):
    _, status = parse(case)
    assert status == exit_code.status
