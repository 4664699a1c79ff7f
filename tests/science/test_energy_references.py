"""Per-species reference energies by least squares, and the model config that uses them."""

import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from aiida_mlipgen.calculations.nequip_config import TrainingData, build_config, hyperparameter_defaults
from aiida_mlipgen.science.energy_references import per_species_energy_references


def _labelled(atoms, energy):
    atoms.calc = SinglePointCalculator(atoms, energy=energy)
    return atoms


def test_references_recover_per_species_energies():
    mu = {'Si': -108.0, 'Ge': -2900.0}  # eV/atom: of the order of PAW total energies
    frames = [
        _labelled(bulk('Si', 'diamond', a=5.43), 2 * mu['Si'] + 0.01),
        _labelled(bulk('Ge', 'diamond', a=5.66), 2 * mu['Ge'] - 0.01),
        _labelled(bulk('SiGe', 'zincblende', a=5.54).repeat((2, 1, 1)), 2 * (mu['Si'] + mu['Ge'])),
    ]
    references = per_species_energy_references(frames)
    assert list(references) == ['Ge', 'Si']
    assert references['Si'] == pytest.approx(mu['Si'], abs=0.01)
    assert references['Ge'] == pytest.approx(mu['Ge'], abs=0.01)
    with pytest.raises(ValueError, match='no frame has an energy'):
        per_species_energy_references([bulk('Si', 'diamond', a=5.43)])


def test_only_alloys_give_the_minimum_norm_split():
    frames = [_labelled(bulk('SiGe', 'zincblende', a=5.54), -3008.0)]
    references = per_species_energy_references(frames)
    assert references['Si'] + references['Ge'] == pytest.approx(-3008.0)
    assert references['Si'] == pytest.approx(references['Ge'])


def test_config_takes_per_species_shifts_and_keeps_the_mean_for_one_species():
    data = TrainingData(training_file='train.xyz', species=['Ge', 'Si'], has_stress=True, validation_fraction=0.1)
    single = build_config(hyperparameter_defaults(), seed=1, data=data)
    assert single['training_module']['model']['per_type_energy_shifts'] == '${training_data_stats:per_atom_energy_mean}'
    shifted = TrainingData(**{**data.__dict__, 'energy_shifts': {'Si': -108.0, 'Ge': -2900.0}})
    config = build_config(hyperparameter_defaults(), seed=1, data=shifted)
    assert config['training_module']['model']['per_type_energy_shifts'] == {'Ge': -2900.0, 'Si': -108.0}
    with pytest.raises(ValueError, match='energy shifts for'):
        build_config(
            hyperparameter_defaults(), seed=1, data=TrainingData(**{**data.__dict__, 'energy_shifts': {'Si': 1.0}})
        )
