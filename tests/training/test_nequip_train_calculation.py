"""NequipTrainCalculation with the real nequip-train: a tiny training gives a packaged model and metrics."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from nequip.model.saved_models.load_utils import load_saved_model

from aiida_mlipgen.calculations.nequip_train import NequipTrainCalculation
from aiida_mlipgen.data.model import ModelData

#: Real nequip-train runs (tens of seconds each on a shared 2-core machine).
pytestmark = pytest.mark.slow


def _builder(code, training, validation, hyperparameters, seed):
    builder = NequipTrainCalculation.get_builder()
    builder.code = code
    builder.training_dataset = training
    builder.validation_dataset = validation
    builder.hyperparameters = orm.Dict(hyperparameters)
    builder.seed = orm.Int(seed)
    builder.metadata.options.max_wallclock_seconds = 1800
    return builder


def _predictions(model: ModelData, frames) -> tuple[np.ndarray, np.ndarray]:
    """Energies per atom (eV/atom) and forces (eV/A) the packaged model predicts for ``frames``."""
    from nequip.integrations.ase import NequIPCalculator

    with model.as_path() as path:
        calculator = NequIPCalculator._from_saved_model(str(path), chemical_species_to_atom_type_map=True)
    energies, forces = [], []
    for atoms in frames:
        atoms = atoms.copy()
        atoms.calc = calculator
        energies.append(atoms.get_potential_energy() / len(atoms))
        forces.append(atoms.get_forces())
    return np.asarray(energies), np.asarray(forces)


def test_trains_packages_and_reports(nequip_code, silicon_datasets, tiny_hyperparameters):
    """A fresh 3-epoch training; then a warm start from its model (see the second half)."""
    training, validation = silicon_datasets
    results, node = run_get_node(_builder(nequip_code, training, validation, tiny_hyperparameters, seed=7))
    assert node.is_finished_ok, (node.exit_status, node.exit_message)

    model = results['model']
    assert isinstance(model, ModelData)
    assert model.species == ['Si']
    assert model.cutoff == 4.0
    assert model.training_dataset_uuid == training.uuid
    assert len(model.sha256) == 64
    with model.as_path() as path:
        assert path.name == 'model.nequip.zip'
        loaded = load_saved_model(str(path))
    assert loaded.metadata['r_max'] == '4.0' and loaded.metadata['type_names'] == 'Si'
    assert model.get_config()['training_module']['model']['num_layers'] == '${num_layers}'

    metrics = results['metrics'].get_dict()
    for key in ('energy_mae_eV_per_atom', 'forces_rmse_eV_per_A', 'stress_mae_GPa'):
        assert np.isfinite(metrics[key]) and metrics[key] > 0
    assert metrics['epochs_completed'] == 3

    curve = results['learning_curve']
    assert list(curve.get_array('epoch')) == [0, 1, 2]
    assert np.isfinite(curve.get_array('val_loss')).all()
    assert curve.get_array('learning_rate')[0] == 0.01

    config = results['config'].get_dict()
    assert config['seed'] == 7 and config['num_features'] == 8
    assert config['training_file'] == 'training.extxyz'  # relative to the job folder, never absolute
    assert 'checkpoint' in results

    # Warm start: fine-tuning the model for one epoch at a tiny learning rate keeps its predictions,
    # which a training from random weights (seed 99) could not.
    fine_tune = dict(tiny_hyperparameters, learning_rate=1.0e-7, max_epochs=1)
    builder = _builder(nequip_code, training, validation, fine_tune, seed=99)
    builder.parent_model = model
    child_results, child = run_get_node(builder)
    assert child.is_finished_ok, (child.exit_status, child.exit_message)
    child_model = child_results['model']
    assert child_results['config']['training_module']['model'] == {
        '_target_': 'nequip.model.ModelFromPackage',
        'package_path': 'parent.nequip.zip',
    }
    assert child_model.sha256 != model.sha256
    assert (child_model.species, child_model.cutoff) == (model.species, model.cutoff)
    frames = validation.get_atoms()
    parent_energies, parent_forces = _predictions(model, frames)
    child_energies, child_forces = _predictions(child_model, frames)
    assert np.abs(child_energies - parent_energies).max() < 1.0e-4
    assert np.abs(child_forces - parent_forces).max() < 1.0e-3
    assert np.abs(parent_forces).max() > 0.1  # forces no random network reproduces to 1e-3 eV/A by chance
