"""Calcfunctions of the exploration test set: draw frames from exploration, and judge the committee on them.

The set grows by a few randomly drawn frames per exploration condition every iteration; each is
labelled once and never trained on. The committee's errors on it, per condition, and the calibration
of its deviations (Spearman rank correlation with the true error, false negatives) go into the
iteration table; the adaptive trust window is fitted from the same numbers.
"""

from __future__ import annotations

import contextlib

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.parsers.evaluate_files import committee_mean_frames, committee_metrics, json_ready
from aiida_mlipgen.science.calibration import AdaptiveWindowSettings, false_negatives, fitted_trust_lo
from aiida_mlipgen.science.contract import CONDITION_KEY, FORCE_DEVIATION_PER_ATOM, MAX_FORCE_DEVIATION, STRUCTURE_KEY
from aiida_mlipgen.science.exploration_test import draw_test_frames
from aiida_mlipgen.science.metrics import max_force_errors
from aiida_mlipgen.science.splitting import shared_frames

#: Info keys of the exploration engine that describe the committee that explored, not the frame.
_EXPLORATION_KEYS = ('class', 'max_force_deviation', 'mean_force_deviation', 'energy_deviation_per_atom')


@calcfunction
def draw_exploration_test(
    explored: DatasetData, parameters: orm.Dict, selected: DatasetData | None = None, **known: DatasetData
) -> dict:
    """Draw ``per_condition`` explored frames per condition at random, never a selected, failed or known frame.

    :param explored: the exploration's frames, with ``condition`` and ``class`` in their info.
    :param parameters: ``per_condition`` (frames per condition) and ``seed``.
    :param selected: the frames selected for training (``source_index`` in their info): never drawn.
    :param known: datasets the loop already holds (training, validation, test sets): their frames are never
        drawn, nor a second copy of an explored frame (every MD starts from the same seed structure).
    :return: ``frames`` (DatasetData, unlabelled, condition and structure kept) when any frame was drawn.
    """
    frames = explored.get_atoms()
    excluded = {atoms.info['source_index'] for atoms in selected.get_atoms()} if selected is not None else set()
    for dataset in known.values():
        excluded.update(index for index, _ in shared_frames(frames, dataset.get_atoms()))
    excluded.update(index for index, first in shared_frames(frames, frames) if first < index)
    indices = draw_test_frames(
        [str(atoms.info[CONDITION_KEY]) for atoms in frames],
        [str(atoms.info.get('class', '')) for atoms in frames],
        per_condition=parameters['per_condition'],
        seed=parameters['seed'],
        excluded=sorted(excluded),
    )
    drawn = []
    for index in indices:
        atoms = frames[index].copy()
        for key in _EXPLORATION_KEYS:
            atoms.info.pop(key, None)
        atoms.arrays.pop(FORCE_DEVIATION_PER_ATOM, None)
        atoms.info['source_index'] = index
        drawn.append(atoms)
    return {'frames': DatasetData(drawn)} if drawn else {}


def _condition_metrics(frames: list) -> dict:
    metrics = committee_metrics(frames)
    metrics.pop('prediction', None)
    return metrics


@calcfunction
def assess_exploration_test(evaluated: DatasetData, parameters: orm.Dict) -> orm.Dict:
    """Errors of the committee mean on the exploration test set, per condition, and its calibration.

    :param evaluated: ``CommitteeEvaluateCalculation``'s ``frames`` for the labelled exploration test set
        (labels, committee mean and deviations in each frame).
    :param parameters: ``force_trust_lo`` / ``force_trust_hi`` (eV/A, the window this iteration used),
        ``force_trust_lo_per_structure`` (its fitted levels, if any) and ``adaptive`` (None, or the keys of
        :class:`~aiida_mlipgen.science.calibration.AdaptiveWindowSettings`) to fit the next levels.
    :return: overall metrics (energy eV/atom, forces eV/A, stress GPa: MAE/RMSE/max), ``per_condition``
        metrics, ``deviation_error_spearman``, the false negatives (frames called accurate whose true
        max force error exceeds ``force_trust_hi``) and, when adaptive, ``fitted_force_trust_lo``
        (structure -> eV/A, None where too few frames).
    """
    frames = evaluated.get_atoms()
    settings = parameters.get_dict()
    report = _condition_metrics(frames)
    conditions = sorted({str(atoms.info[CONDITION_KEY]) for atoms in frames})
    report['per_condition'] = {}
    for condition in conditions:
        subset = [atoms for atoms in frames if str(atoms.info[CONDITION_KEY]) == condition]
        with contextlib.suppress(ValueError):
            report['per_condition'][condition] = _condition_metrics(subset)

    predicted = committee_mean_frames(frames)
    errors = max_force_errors(
        [atoms.calc.results['forces'] for atoms in frames], [atoms.calc.results['forces'] for atoms in predicted]
    )
    deviations = np.array([float(atoms.info[MAX_FORCE_DEVIATION]) for atoms in frames])
    structures = [str(atoms.info.get(STRUCTURE_KEY)) for atoms in frames]
    levels = settings.get('force_trust_lo_per_structure') or {}
    lower = np.array([levels.get(name, settings['force_trust_lo']) for name in structures])
    report.update(false_negatives(deviations, errors, lower, settings['force_trust_hi']))
    report['max_force_error_eV_per_A'] = {'mean': float(errors.mean()), 'max': float(errors.max())}
    if settings.get('adaptive'):
        adaptive = AdaptiveWindowSettings(**settings['adaptive'])
        groups = {name: [index for index, other in enumerate(structures) if other == name] for name in set(structures)}
        fitted = {
            name: fitted_trust_lo(deviations[group], errors[group], adaptive, settings['force_trust_hi'])
            for name, group in sorted(groups.items())
        }
        report['fitted_force_trust_lo'] = fitted
        report['fitted_false_negatives'] = {
            name: false_negatives(deviations[groups[name]], errors[groups[name]], level, adaptive.target_error)
            for name, level in fitted.items()
            if level is not None
        }
    return orm.Dict(json_ready(report))
