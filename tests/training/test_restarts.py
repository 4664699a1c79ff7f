"""NequipTrainBaseWorkChain with the real nequip-train: resume after the time limit, lower the rate after NaN."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_mlipgen.calculations.nequip_checkpoint import read_checkpoint_progress
from aiida_mlipgen.calculations.nequip_train import NequipTrainCalculation
from aiida_mlipgen.workflows.nequip_train_base import NequipTrainBaseWorkChain

#: Real nequip-train runs (tens of seconds each on a shared 2-core machine).
pytestmark = pytest.mark.slow

EXIT = NequipTrainCalculation.exit_codes


def _builder(code, datasets, hyperparameters, **nequip):
    training, validation = datasets
    builder = NequipTrainBaseWorkChain.get_builder_from_protocol(
        code, training, validation, protocol='fast', overrides={'nequip': {'hyperparameters': hyperparameters}}
    )
    for key, value in nequip.items():
        builder.nequip[key] = value
    return builder


def _calculations(node):
    return sorted(node.called, key=lambda child: child.ctime)


def test_time_limit_stops_cleanly_and_a_resume_finishes(nequip_code, silicon_datasets, tiny_hyperparameters):
    """A 1 s training budget stops a 10-epoch run early with a checkpoint; resuming it finishes the 10 epochs.

    The handler that turns exit 400 into this resume is tested on a faked calculation
    (test_handlers.py): how many restarts a tiny budget needs depends on the machine's load, so the
    real runs here are the two steps of one restart.
    """
    hyperparameters = dict(tiny_hyperparameters, max_epochs=10)
    builder = _builder(nequip_code, silicon_datasets, hyperparameters, training_time_limit=orm.Int(1))
    builder.max_iterations = orm.Int(1)
    _, stopped = run_get_node(builder)
    first = _calculations(stopped)[0]
    assert first.exit_status == EXIT.ERROR_OUT_OF_WALLTIME.status
    assert 'Time limit reached' in first.exit_message
    assert first.outputs.config['trainer']['max_time'] == '00:00:00:01'
    assert 'checkpoint' in first.outputs  # attached although the calculation failed
    assert 'model' not in first.outputs

    builder = _builder(nequip_code, silicon_datasets, hyperparameters, checkpoint=first.outputs.checkpoint)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    resumed = _calculations(node)[0]
    assert resumed.outputs.config['ckpt_path'] == 'restart.ckpt'
    # it picks up at the checkpoint's epoch (the next one if the checkpoint is from within an epoch,
    # which Lightning does not resume mid-way), and ends at epoch 9
    with first.outputs.checkpoint.as_path() as path:
        progress = read_checkpoint_progress(path)
    assert progress.global_step > 0 and progress.training_seconds >= 1.0
    epochs = resumed.outputs.learning_curve.get_array('epoch').tolist()
    assert progress.epoch <= epochs[0] <= progress.epoch + 1 and epochs[-1] == 9
    assert results['metrics']['epochs_completed'] == 10


def test_non_finite_loss_halves_the_learning_rate(nequip_code, silicon_datasets, tiny_hyperparameters):
    """An absurd learning rate makes the loss NaN; each restart starts again with half the rate."""
    hyperparameters = dict(tiny_hyperparameters, learning_rate=1.0e10, max_epochs=2)
    builder = _builder(nequip_code, silicon_datasets, hyperparameters)
    builder.max_iterations = orm.Int(2)
    _, node = run_get_node(builder)

    assert node.exit_status == NequipTrainBaseWorkChain.exit_codes.ERROR_MAXIMUM_ITERATIONS_EXCEEDED.status
    calculations = _calculations(node)
    assert [calc.exit_status for calc in calculations] == [EXIT.ERROR_NON_FINITE_LOSS.status] * 2
    rates = [calc.inputs.hyperparameters['learning_rate'] for calc in calculations]
    assert rates == [1.0e10, 0.5e10]
    # the run stopped at the first validation that saw the NaN, not after max_epochs
    assert calculations[0].outputs.learning_curve.get_array('epoch').tolist() == [0]
