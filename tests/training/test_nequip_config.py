"""The nequip-train config built from our template: what the inputs change, and what is refused."""

from __future__ import annotations

import pytest
import yaml

from aiida_mlipgen.calculations.nequip_config import (
    StartingPoint,
    TrainingData,
    build_config,
    check_hyperparameters,
    config_to_yaml,
    hyperparameter_defaults,
    max_time_string,
)

DATA = TrainingData(
    training_file='training.extxyz', validation_file='validation.extxyz', species=['Si'], has_stress=True
)


def test_hyperparameters_land_where_nequip_reads_them():
    config = build_config({'num_layers': 3, 'cutoff_radius': 5.0}, seed=4, data=DATA)
    assert config['num_layers'] == 3 and config['cutoff_radius'] == 5.0 and config['seed'] == 4
    model = config['training_module']['model']
    assert model['num_layers'] == '${num_layers}' and model['r_max'] == '${cutoff_radius}'
    assert config['data']['train_dataset']['file_path'] == '${training_file}'
    assert config['trainer']['max_time'] is None
    # the YAML keeps interpolations for Hydra and reads back unchanged
    assert yaml.safe_load(config_to_yaml(config)) == config


def test_split_uses_its_own_seed_and_stress_can_be_dropped():
    data = TrainingData(
        training_file='training.extxyz', species=['Si', 'Ge'], has_stress=False, validation_fraction=0.2, split_seed=9
    )
    config = build_config({}, seed=1, data=data)
    train, val = config['data']['train_dataset'], config['data']['val_dataset']
    assert train['_target_'] == val['_target_'] == 'nequip.data.dataset.RandomSplitAndIndexDataset'
    assert (train['dataset_key'], val['dataset_key']) == ('train', 'val')
    assert train['seed'] == val['seed'] == 9  # same split for every member, whatever its seed
    assert train['split_dict'] == {'train': 0.8, 'val': 0.2}
    assert config['model_type_names'] == ['Si', 'Ge']
    module = config['training_module']
    assert module['loss']['_target_'] == 'nequip.train.EnergyForceLoss'
    assert 'stress' not in module['loss']['coeffs']
    assert not any(key.startswith('stress') for key in module['val_metrics']['coeffs'])


def test_warm_start_and_time_limit():
    package = build_config({}, seed=1, data=DATA, start=StartingPoint(package_file='parent.nequip.zip'))
    assert package['training_module']['model'] == {
        '_target_': 'nequip.model.ModelFromPackage',
        'package_path': 'parent.nequip.zip',
    }
    checkpoint = build_config({}, seed=1, data=DATA, start=StartingPoint(checkpoint_file='parent.ckpt'))
    assert checkpoint['training_module']['model']['checkpoint_path'] == 'parent.ckpt'
    limited = build_config({}, seed=1, data=DATA, time_limit=3723.4)
    assert limited['trainer']['max_time'] == '00:01:02:03'
    assert max_time_string(2 * 86400 + 5) == '02:00:00:05'


def test_nested_sections_are_merged():
    config = build_config({'trainer': {'gradient_clip_val': 10.0}}, seed=1, data=DATA)
    assert config['trainer']['gradient_clip_val'] == 10.0
    assert config['trainer']['max_epochs'] == '${max_epochs}'  # the rest of the section is kept


@pytest.mark.parametrize(
    ('hyperparameters', 'message'),
    [
        ({'cutoff_radius': 0.0}, '`cutoff_radius` must be a positive number'),
        ({'cutoff_radius': -4.0}, '`cutoff_radius` must be a positive number'),
        ({'num_layer': 3}, 'unknown hyperparameter `num_layer`'),
        ({'batch_size': 2.5}, '`batch_size` must be a positive integer'),
        ({'seed': 3}, 'set by the calculation'),
        ({'device': 'tpu'}, '`device` must be one of'),
        ({'ema_decay': 1.5}, '`ema_decay` must lie in [0, 1]'),
        ({'trainer': 5}, 'section `trainer` must be a mapping'),
    ],
)
def test_bad_hyperparameters_are_refused(hyperparameters, message):
    assert message in check_hyperparameters(hyperparameters)
    with pytest.raises(ValueError, match='hyperparameter'):
        build_config(hyperparameters, seed=1, data=DATA)


def test_defaults_are_the_template_values():
    defaults = hyperparameter_defaults()
    assert defaults['ema_decay'] == 0.99 and defaults['stress_weight'] == 100.0
    assert check_hyperparameters(defaults) is None
