"""Test-set errors of a model for benchmarking: per species, per configuration type, parity data, calibration.

Errors follow :mod:`aiida_mlipgen.science.metrics` (energy per atom eV/atom, force components eV/A,
stress Voigt components GPa). The calibration of a committee: Spearman's rank correlation of each
frame's max force deviation with its true max force error, and the false-negative rate: the fraction
of frames whose true max force error reaches ``error_threshold`` that the committee calls accurate
(max force deviation below ``trust_lo``), i.e. frames that active learning would never have labelled.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms, units

from aiida_mlipgen.science.metrics import (
    energy_per_atom_errors,
    error_statistics,
    force_component_errors,
    max_force_errors,
    spearman_calibration,
    stress_errors_gpa,
)

#: ``info`` keys that name how a frame was made, tried in this order; frames with none are ``all``.
CONFIGURATION_TYPE_KEYS = ('config_type', 'condition', 'generator')


def configuration_type(atoms: Atoms) -> str:
    """The configuration type of a frame: the first of :data:`CONFIGURATION_TYPE_KEYS` in its info."""
    for key in CONFIGURATION_TYPE_KEYS:
        if key in atoms.info:
            return str(atoms.info[key])
    return 'all'


def _labels(atoms: Atoms) -> dict:
    if atoms.calc is None or not atoms.calc.results:
        raise ValueError('a test frame has no labels')
    return atoms.calc.results


def _group_errors(reference: list[dict], predicted: list[dict], frames: list[Atoms]) -> dict:
    errors: dict[str, dict] = {}
    if all('energy' in item for item in reference + predicted):
        errors['energy_per_atom'] = energy_per_atom_errors(
            [item['energy'] for item in reference], [item['energy'] for item in predicted], [len(a) for a in frames]
        ).as_dict() | {'unit': 'eV/atom'}
    if all('forces' in item for item in reference + predicted):
        errors['forces'] = force_component_errors(
            [item['forces'] for item in reference], [item['forces'] for item in predicted]
        ).as_dict() | {'unit': 'eV/A'}
    if all('stress' in item for item in reference + predicted):
        errors['stress'] = stress_errors_gpa(
            [item['stress'] for item in reference], [item['stress'] for item in predicted]
        ).as_dict() | {'unit': 'GPa'}
    return errors


def dataset_errors(
    frames: Sequence[Atoms],
    predictions: Sequence[dict],
    deviations: Sequence[float] | None = None,
    trust_lo: float = 0.05,
    error_threshold: float | None = None,
) -> dict:
    """Errors of ``predictions`` against the labels of ``frames``: overall, per species, per configuration type.

    :param predictions: per frame ``{'energy': eV, 'forces': (A, 3) eV/A, 'stress': (6,) eV/A^3}``.
    :param deviations: per frame committee max force deviation (eV/A), for the calibration.
    :param trust_lo: deviation below which the committee calls a frame accurate, eV/A.
    :param error_threshold: true max force error from which a frame is inaccurate (default ``trust_lo``).
    :return: ``overall``, ``per_configuration_type`` and ``per_species`` (forces only) error dicts, and
        ``calibration`` (when deviations are given and vary).
    """
    frames = list(frames)
    if not frames or len(frames) != len(predictions):
        raise ValueError(f'{len(frames)} frames but {len(predictions)} predictions')
    reference = [_labels(atoms) for atoms in frames]
    predicted = [dict(item) for item in predictions]
    report = {'num_frames': len(frames), 'overall': _group_errors(reference, predicted, frames)}

    groups: dict[str, list[int]] = {}
    for index, atoms in enumerate(frames):
        groups.setdefault(configuration_type(atoms), []).append(index)
    report['per_configuration_type'] = {
        name: {'num_frames': len(indices)}
        | _group_errors([reference[i] for i in indices], [predicted[i] for i in indices], [frames[i] for i in indices])
        for name, indices in sorted(groups.items())
    }

    per_species = {}
    if 'forces' in report['overall']:
        symbols = np.concatenate([np.asarray(atoms.get_chemical_symbols()) for atoms in frames])
        ref_forces = np.concatenate([np.asarray(item['forces']).reshape(-1, 3) for item in reference])
        pred_forces = np.concatenate([np.asarray(item['forces']).reshape(-1, 3) for item in predicted])
        for symbol in sorted(set(symbols)):
            mask = symbols == symbol
            per_species[str(symbol)] = {
                'num_atoms': int(mask.sum()),
                'forces': error_statistics(ref_forces[mask], pred_forces[mask]).as_dict() | {'unit': 'eV/A'},
            }
    report['per_species'] = per_species

    if deviations is not None and 'forces' in report['overall']:
        report['calibration'] = calibration(
            deviations,
            max_force_errors([item['forces'] for item in reference], [item['forces'] for item in predicted]),
            trust_lo,
            trust_lo if error_threshold is None else error_threshold,
        )
    return report


def calibration(
    deviations: Sequence[float], true_errors: Sequence[float], trust_lo: float, error_threshold: float
) -> dict:
    """Spearman correlation (None when undefined), false negatives and their rate (None without inaccurate frames)."""
    deviations = np.asarray(deviations, dtype=float)
    true_errors = np.asarray(true_errors, dtype=float)
    try:
        spearman = spearman_calibration(deviations, true_errors)
    except ValueError:
        spearman = None
    inaccurate = true_errors >= error_threshold
    false_negatives = int((inaccurate & (deviations < trust_lo)).sum())
    return {
        'spearman': spearman,
        'trust_lo_eV_per_A': float(trust_lo),
        'error_threshold_eV_per_A': float(error_threshold),
        'inaccurate_frames': int(inaccurate.sum()),
        'false_negatives': false_negatives,
        'false_negative_rate': false_negatives / int(inaccurate.sum()) if inaccurate.any() else None,
    }


def parity_arrays(frames: Sequence[Atoms], predictions: Sequence[dict]) -> dict[str, np.ndarray]:
    """Reference and predicted values for parity plots: ``energy_per_atom`` (eV/atom), ``forces`` (eV/A,
    components), ``stress`` (GPa, Voigt components); each ``<name>_reference`` and ``<name>_predicted``."""
    arrays: dict[str, np.ndarray] = {}
    reference = [_labels(atoms) for atoms in frames]
    sizes = np.array([len(atoms) for atoms in frames], dtype=float)
    if all('energy' in r for r in reference) and all('energy' in p for p in predictions):
        arrays['energy_per_atom_reference'] = np.array([r['energy'] for r in reference]) / sizes
        arrays['energy_per_atom_predicted'] = np.array([p['energy'] for p in predictions]) / sizes
    if all('forces' in r for r in reference) and all('forces' in p for p in predictions):
        arrays['forces_reference'] = np.concatenate([np.ravel(r['forces']) for r in reference])
        arrays['forces_predicted'] = np.concatenate([np.ravel(p['forces']) for p in predictions])
    if all('stress' in r for r in reference) and all('stress' in p for p in predictions):
        arrays['stress_reference'] = np.concatenate([_voigt(r['stress']) for r in reference]) / units.GPa
        arrays['stress_predicted'] = np.concatenate([_voigt(p['stress']) for p in predictions]) / units.GPa
    return arrays


def _voigt(stress) -> np.ndarray:
    stress = np.asarray(stress, dtype=float)
    return stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]] if stress.shape == (3, 3) else stress.reshape(6)


def check(value: float | None, target: float, lower_is_better: bool = True) -> dict:
    """A check's value against its target: ``{'value', 'target', 'passed'}`` (not passed when unknown)."""
    passed = value is not None and np.isfinite(value) and (abs(value) <= target if lower_is_better else value >= target)
    return {'value': value, 'target': target, 'passed': bool(passed)}
