"""The ``nequip-train`` config that ``NequipTrainCalculation`` writes: our template plus the user's hyperparameters.

Plain functions on dictionaries (no AiiDA): the template ``templates/nequip_train.yaml`` is loaded with
OmegaConf, the hyperparameters are merged in, and the parts that depend on the inputs (data files,
validation split, stress or not, warm start, time limit) are filled in. ``${...}`` interpolations stay
unresolved: NequIP resolves them (``training_data_stats`` only exists inside ``nequip-train``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

TEMPLATE_PATH = Path(__file__).parent / 'templates' / 'nequip_train.yaml'

#: Keys of the template filled in from the calculation's other inputs: never hyperparameters.
DERIVED_KEYS = (
    'run',
    'seed',
    'data_seed',
    'model_type_names',
    'chemical_species',
    'training_file',
    'validation_file',
    'dataset_transforms',
)
#: Config sections a ``hyperparameters`` Dict may hold as nested mappings, deep-merged into the template.
SECTION_KEYS = ('data', 'trainer', 'training_module')
#: Accepted values of the ``device`` hyperparameter (Lightning accelerators).
DEVICES = ('auto', 'cpu', 'cuda')

_POSITIVE_INTEGERS = ('num_layers', 'num_features', 'radial_mlp_depth', 'radial_mlp_width', 'max_epochs', 'batch_size')
_NON_NEGATIVE_INTEGERS = ('l_max', 'lr_scheduler_patience', 'early_stopping_patience')
_POSITIVE_FLOATS = ('cutoff_radius', 'learning_rate')
_NON_NEGATIVE_FLOATS = ('energy_weight', 'forces_weight', 'stress_weight')


def load_template() -> dict:
    """Return the template as a plain dictionary with its interpolations unresolved."""
    return yaml.safe_load(TEMPLATE_PATH.read_text(encoding='utf-8'))


def hyperparameter_defaults() -> dict:
    """Return the template's hyperparameters (its plain top-level keys) and their default values."""
    template = load_template()
    return {
        key: value
        for key, value in template.items()
        if key not in DERIVED_KEYS and key not in SECTION_KEYS and not isinstance(value, (dict, list))
    }


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_hyperparameters(hyperparameters: dict) -> str | None:
    """Return why ``hyperparameters`` cannot be used, or None if they can.

    Checks names (typos would otherwise be silently ignored by the template), types and ranges of the
    plain hyperparameters; nested section overrides are passed to NequIP as given.
    """
    defaults = hyperparameter_defaults()
    for key, value in hyperparameters.items():
        if key in DERIVED_KEYS:
            return f'hyperparameter `{key}` is set by the calculation from its other inputs and cannot be given.'
        if key in SECTION_KEYS:
            if not isinstance(value, dict):
                return f'hyperparameter section `{key}` must be a mapping, got {type(value).__name__}.'
            continue
        if key not in defaults:
            known = ', '.join(sorted(defaults))
            return f'unknown hyperparameter `{key}`; known: {known} (or nested {", ".join(SECTION_KEYS)}).'
        if key in _POSITIVE_INTEGERS and not (_is_integer(value) and value > 0):
            return f'hyperparameter `{key}` must be a positive integer, got {value!r}.'
        if key in _NON_NEGATIVE_INTEGERS and not (_is_integer(value) and value >= 0):
            return f'hyperparameter `{key}` must be a non-negative integer, got {value!r}.'
        if key in _POSITIVE_FLOATS and not (_is_number(value) and value > 0):
            return f'hyperparameter `{key}` must be a positive number, got {value!r}.'
        if key in _NON_NEGATIVE_FLOATS and not (_is_number(value) and value >= 0):
            return f'hyperparameter `{key}` must be a non-negative number, got {value!r}.'
    decay = hyperparameters.get('ema_decay', 0.99)
    if not (_is_number(decay) and 0 <= decay <= 1):
        return f'hyperparameter `ema_decay` must lie in [0, 1], got {decay!r}.'
    factor = hyperparameters.get('lr_scheduler_factor', 0.5)
    if not (_is_number(factor) and 0 < factor < 1):
        return f'hyperparameter `lr_scheduler_factor` must lie in (0, 1), got {factor!r}.'
    if hyperparameters.get('device', 'auto') not in DEVICES:
        return f'hyperparameter `device` must be one of {", ".join(DEVICES)}, got {hyperparameters["device"]!r}.'
    if hyperparameters.get('model_dtype', 'float32') not in ('float32', 'float64'):
        return f'hyperparameter `model_dtype` must be float32 or float64, got {hyperparameters["model_dtype"]!r}.'
    return None


@dataclass(frozen=True)
class TrainingData:
    """Where the data files lie in the job folder and how the validation set is made.

    :param training_file: extxyz file of training frames, relative to the job folder.
    :param validation_file: extxyz file of validation frames, or None to split ``training_file``.
    :param validation_fraction: fraction of ``training_file`` held out for validation (split only).
    :param split_seed: seed of the random split, the same for every member of a committee.
    :param species: chemical symbols of the training set (the model's type names).
    :param has_stress: whether every training and validation frame has a stress label.
    :param energy_shifts: per-species energy shifts of the model (eV/atom), e.g. from
        ``aiida_mlipgen.science.energy_references``; None keeps the template's single shift (the mean energy
        per atom), which suits one species.
    """

    training_file: str
    species: list[str]
    has_stress: bool
    validation_file: str | None = None
    validation_fraction: float | None = None
    split_seed: int = 0
    energy_shifts: dict[str, float] | None = None


@dataclass(frozen=True)
class StartingPoint:
    """What the training starts from, other than random weights.

    :param package_file: a ``.nequip.zip`` in the job folder whose weights are fine-tuned (warm start).
    :param checkpoint_file: a Lightning checkpoint in the job folder whose weights are fine-tuned.
    :param resume_file: a Lightning checkpoint in the job folder to resume (``++ckpt_path=``).
    """

    package_file: str | None = None
    checkpoint_file: str | None = None
    resume_file: str | None = None


def _split(dataset: dict, key: str, data: TrainingData) -> dict:
    """Wrap ``dataset`` so that it yields the ``key`` part of a random train/val split of one file."""
    fraction = data.validation_fraction
    return {
        '_target_': 'nequip.data.dataset.RandomSplitAndIndexDataset',
        'dataset': dataset,
        'split_dict': {'train': 1.0 - fraction, 'val': fraction},
        'dataset_key': key,
        'seed': data.split_seed,
    }


def _configure_data(config: dict, data: TrainingData) -> None:
    config['model_type_names'] = list(data.species)
    if data.energy_shifts is not None:
        if set(data.energy_shifts) != set(data.species):
            raise ValueError(f'energy shifts for {sorted(data.energy_shifts)} but species {sorted(data.species)}')
        config['training_module']['model']['per_type_energy_shifts'] = {
            symbol: float(data.energy_shifts[symbol]) for symbol in data.species
        }
    config['training_file'] = data.training_file
    if data.validation_file is not None:
        config['validation_file'] = data.validation_file
        return
    if data.validation_fraction is None:
        raise ValueError('give a validation file or a validation fraction')
    config['validation_file'] = data.training_file
    section = config['data']
    section['train_dataset'] = _split(section['train_dataset'], 'train', data)
    section['val_dataset'] = _split(section['val_dataset'], 'val', data)


def _drop_stress(config: dict) -> None:
    """Train on energies and forces only (some frames have no stress label)."""
    module = config['training_module']
    module['loss']['_target_'] = 'nequip.train.EnergyForceLoss'
    module['loss']['coeffs'].pop('stress', None)
    module['val_metrics']['_target_'] = 'nequip.train.EnergyForceMetrics'
    for key in [key for key in module['val_metrics']['coeffs'] if key.startswith('stress')]:
        module['val_metrics']['coeffs'].pop(key)


def _configure_start(config: dict, start: StartingPoint) -> None:
    if start.package_file is not None:
        config['training_module']['model'] = {
            '_target_': 'nequip.model.ModelFromPackage',
            'package_path': start.package_file,
        }
    elif start.checkpoint_file is not None:
        config['training_module']['model'] = {
            '_target_': 'nequip.model.ModelFromCheckpoint',
            'checkpoint_path': start.checkpoint_file,
        }


def build_config(
    hyperparameters: dict,
    *,
    seed: int,
    data: TrainingData,
    start: StartingPoint | None = None,
    time_limit: float | None = None,
) -> dict:
    """Return the full ``nequip-train`` config (interpolations unresolved) for these inputs.

    :param hyperparameters: plain hyperparameters and nested section overrides (see the template).
    :param seed: seed of the model initialisation and of the data shuffling.
    :param time_limit: seconds of training after which Lightning stops cleanly (``trainer.max_time``),
        counting the training time stored in a resumed checkpoint; None for no limit.
    :raises ValueError: for hyperparameters that :func:`check_hyperparameters` refuses.
    """
    message = check_hyperparameters(hyperparameters)
    if message:
        raise ValueError(message)
    config = load_template()
    config['seed'] = int(seed)
    plain = {key: value for key, value in hyperparameters.items() if key not in SECTION_KEYS}
    config.update(copy.deepcopy(plain))
    _configure_data(config, data)
    if not data.has_stress:
        _drop_stress(config)
    _configure_start(config, start or StartingPoint())
    if time_limit is not None:
        config['trainer']['max_time'] = max_time_string(time_limit)
    sections = {key: value for key, value in hyperparameters.items() if key in SECTION_KEYS}
    if sections:
        merged = OmegaConf.merge(OmegaConf.create(config), OmegaConf.create(copy.deepcopy(sections)))
        config = OmegaConf.to_container(merged, resolve=False)
    return config


def max_time_string(seconds: float) -> str:
    """Lightning's ``max_time`` format ``DD:HH:MM:SS`` for a duration in seconds (rounded, at least 1 s)."""
    total = max(1, round(seconds))
    minutes, second = divmod(total, 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    return f'{days:02d}:{hour:02d}:{minute:02d}:{second:02d}'


def config_to_yaml(config: dict) -> str:
    """Return ``config`` as YAML text that Hydra reads back unchanged (interpolations kept as strings)."""
    return OmegaConf.to_yaml(OmegaConf.create(config), resolve=False)
