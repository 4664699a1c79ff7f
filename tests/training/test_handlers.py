"""The restart handlers of NequipTrainBaseWorkChain on faked failed calculations (real runs: test_restarts.py)."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import ProcessState
from aiida.engine.utils import instantiate_process
from aiida.manage import get_manager

from aiida_mlipgen.calculations.nequip_train import NequipTrainCalculation
from aiida_mlipgen.workflows.nequip_train_base import NequipTrainBaseWorkChain
from tests.training.conftest import TINY_HYPERPARAMETERS

EXIT = NequipTrainCalculation.exit_codes


@pytest.fixture
def workchain(nequip_code, silicon_datasets):
    """A set-up NequipTrainBaseWorkChain (not run) whose handlers the tests call."""

    def factory(**hyperparameters):
        builder = NequipTrainBaseWorkChain.get_builder_from_protocol(
            nequip_code,
            *silicon_datasets,
            protocol='fast',
            overrides={'nequip': {'hyperparameters': {**TINY_HYPERPARAMETERS, **hyperparameters}}},
        )
        process = instantiate_process(get_manager().get_runner(), builder)
        process.setup()
        return process

    return factory


@pytest.fixture
def failed_calculation(aiida_localhost, tmp_path):
    """A finished NequipTrainCalculation node with ``exit_code`` and, if asked, a checkpoint output."""

    def factory(exit_code, with_checkpoint=False):
        node = orm.CalcJobNode(computer=aiida_localhost, process_type='aiida.calculations:mlipgen.nequip.train')
        node.set_process_label('NequipTrainCalculation')
        node.set_process_state(ProcessState.FINISHED)
        node.set_exit_status(exit_code.status)
        node.store()
        if with_checkpoint:
            (tmp_path / 'last.ckpt').write_bytes(b'checkpoint')
            checkpoint = orm.SinglefileData(tmp_path / 'last.ckpt')
            checkpoint.base.links.add_incoming(node, LinkType.CREATE, 'checkpoint')
            checkpoint.store()
        return node

    return factory


def test_out_of_memory_halves_the_batch_size(workchain, failed_calculation):
    process = workchain(batch_size=8)
    report = process.handle_out_of_memory(failed_calculation(EXIT.ERROR_OUT_OF_MEMORY))
    assert report.do_break and report.exit_code.status == 0
    assert process.ctx.inputs.hyperparameters['batch_size'] == 4
    assert 'checkpoint' not in process.ctx.inputs  # nothing to resume: it starts again


def test_out_of_memory_resumes_when_a_checkpoint_exists(workchain, failed_calculation):
    process = workchain(batch_size=5)
    node = failed_calculation(EXIT.ERROR_OUT_OF_MEMORY, with_checkpoint=True)
    process.handle_out_of_memory(node)
    assert process.ctx.inputs.hyperparameters['batch_size'] == 2
    assert process.ctx.inputs.checkpoint.uuid == node.outputs.checkpoint.uuid


def test_out_of_memory_with_one_frame_per_batch_gives_up(workchain, failed_calculation):
    process = workchain(batch_size=1)
    report = process.handle_out_of_memory(failed_calculation(EXIT.ERROR_OUT_OF_MEMORY))
    assert report.exit_code.status == NequipTrainBaseWorkChain.exit_codes.ERROR_BATCH_SIZE_AT_MINIMUM.status


def test_out_of_walltime_resumes_from_the_checkpoint(workchain, failed_calculation):
    process = workchain()
    node = failed_calculation(EXIT.ERROR_OUT_OF_WALLTIME, with_checkpoint=True)
    report = process.handle_out_of_walltime(node)
    assert report.do_break and report.exit_code.status == 0
    assert process.ctx.inputs.checkpoint.uuid == node.outputs.checkpoint.uuid
    assert process.ctx.inputs.hyperparameters.get_dict() == node_hyperparameters(process)


def node_hyperparameters(process) -> dict:
    """The hyperparameters the work chain was given (a resume changes none of them)."""
    return process.inputs.nequip.hyperparameters.get_dict()


def test_out_of_walltime_without_checkpoint_gives_up(workchain, failed_calculation):
    process = workchain()
    report = process.handle_out_of_walltime(failed_calculation(EXIT.ERROR_OUT_OF_WALLTIME))
    assert report.exit_code.status == NequipTrainBaseWorkChain.exit_codes.ERROR_NO_CHECKPOINT_TO_RESUME.status


def test_non_finite_loss_drops_the_checkpoint_being_resumed(workchain, failed_calculation):
    process = workchain(learning_rate=0.02)
    process.ctx.inputs.checkpoint = failed_calculation(
        EXIT.ERROR_OUT_OF_WALLTIME, with_checkpoint=True
    ).outputs.checkpoint
    process.handle_non_finite_loss(failed_calculation(EXIT.ERROR_NON_FINITE_LOSS))
    assert process.ctx.inputs.hyperparameters['learning_rate'] == 0.01
    assert 'checkpoint' not in process.ctx.inputs


def test_handlers_ignore_other_failures(workchain, failed_calculation):
    process = workchain()
    node = failed_calculation(EXIT.ERROR_TRAINING_FAILED)
    for handler in (process.handle_out_of_memory, process.handle_non_finite_loss, process.handle_out_of_walltime):
        assert handler(node) is None
