"""Plain parsing of what ``mlipgen-evaluate`` writes: annotated frames, JSON summary, error messages.

No AiiDA here: the ``mlipgen.evaluate`` parser maps these results to nodes and exit codes. Units: forces
and force deviations eV/A, energies eV (per atom: eV/atom), stresses eV/A^3 in the files, GPa in metrics.
"""

from __future__ import annotations

import contextlib
import enum
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from aiida_mlipgen.science.contract import DEVIATION_UNITS
from aiida_mlipgen.science.metrics import (
    compare_frames,
    force_errors_per_species,
    max_force_errors,
    spearman_calibration,
)

#: Names under which the engine writes the committee mean predictions (never label names).
MEAN_ENERGY_KEY = 'committee_energy'
MEAN_FORCES_KEY = 'committee_forces'
MEAN_STRESS_KEY = 'committee_stress'
#: The prefix of the engine's own error messages (exit status 2) on stderr.
ENGINE_ERROR_PREFIX = 'mlipgen-evaluate: error:'
#: Metric names as ``NequipTrainCalculation`` reports validation metrics, so both compare directly.
_METRIC_NAMES = {
    'energy_per_atom': ('energy', 'eV_per_atom'),
    'forces': ('forces', 'eV_per_A'),
    'stress': ('stress', 'GPa'),
}


class EngineFailure(enum.Enum):
    """Why ``mlipgen-evaluate`` stopped, read from its stderr."""

    UNKNOWN_SPECIES = 'unknown_species'  # frames with species the committee was not trained on
    UNREADABLE_FRAMES = 'unreadable_frames'  # the input file is missing, empty or not readable
    BAD_INPUT = 'bad_input'  # any other refusal of its input (exit status 2)
    CRASHED = 'crashed'  # a Python traceback


@dataclass(frozen=True)
class EngineError:
    """A failure of the engine and the line that says why."""

    kind: EngineFailure
    message: str


def engine_error(stderr: str) -> EngineError | None:
    """Classify the stderr of ``mlipgen-evaluate``; None when it holds no error.

    The engine prints ``mlipgen-evaluate: error: <message>`` for input it refuses (exit status 2); anything
    else that ends a traceback is a crash, reported with the traceback's last line.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(ENGINE_ERROR_PREFIX):
            message = line[len(ENGINE_ERROR_PREFIX) :].strip()
            if 'does not know' in message:
                return EngineError(EngineFailure.UNKNOWN_SPECIES, message)
            if 'does not exist' in message or message.startswith('no frames'):
                return EngineError(EngineFailure.UNREADABLE_FRAMES, message)
            return EngineError(EngineFailure.BAD_INPUT, message)
    if any(line.startswith('Traceback (most recent call last)') for line in lines):
        return EngineError(EngineFailure.CRASHED, lines[-1])
    return None


def read_summary(text: str) -> dict:
    """The engine's JSON summary.

    :raises ValueError: when the text is not a JSON object with ``num_frames``, ``num_members`` and ``deviations``.
    """
    try:
        summary = json.loads(text)
    except json.JSONDecodeError as exception:
        raise ValueError(f'not valid JSON ({exception})') from exception
    if not isinstance(summary, dict):
        raise ValueError('the summary is not a JSON object')
    missing = [key for key in ('num_frames', 'num_members', 'deviations') if key not in summary]
    if missing:
        raise ValueError(f'the summary lacks {", ".join(missing)}')
    return summary


def read_evaluated_frames(text: str, expected_count: int | None = None) -> list[Atoms]:
    """Frames of the engine's annotated extxyz, each with every deviation key in its ``info``.

    :param expected_count: number of frames the summary reports; a different count means a truncated file.
    :raises ValueError: for text that is not extxyz, a frame without deviations, or the wrong frame count.
    """
    from ase.io import read

    if not text.strip():
        raise ValueError('the file is empty')
    try:
        frames = read(io.StringIO(text), index=':', format='extxyz')
    except Exception as exception:  # ASE raises many kinds of errors for malformed extxyz
        raise ValueError(f'not readable as extxyz ({type(exception).__name__}: {exception})') from exception
    if expected_count is not None and len(frames) != expected_count:
        raise ValueError(f'it holds {len(frames)} frames but the summary reports {expected_count}')
    for index, atoms in enumerate(frames):
        missing = [key for key in DEVIATION_UNITS if key not in atoms.info]
        if missing:
            raise ValueError(f'frame {index} lacks the deviations {", ".join(missing)}')
    return frames


def _finite_statistics(values: np.ndarray) -> dict[str, float | int | None]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return {'count': 0, 'min': None, 'mean': None, 'median': None, 'max': None, 'std': None}
    return {
        'count': int(finite.size),
        'min': float(finite.min()),
        'mean': float(finite.mean()),
        'median': float(np.median(finite)),
        'max': float(finite.max()),
        'std': float(finite.std()),
    }


def deviation_statistics(frames: Sequence[Atoms]) -> dict[str, dict]:
    """Per deviation key: unit, number of finite values, min, mean, median, max, std over the frames.

    Non-finite values (``stress_deviation`` of frames without a cell) are left out; a key with no finite
    value has ``count`` 0 and None elsewhere.
    """
    statistics = {}
    for key, unit in DEVIATION_UNITS.items():
        values = np.array([atoms.info[key] for atoms in frames], dtype=float)
        statistics[key] = {'unit': unit, **_finite_statistics(values)}
    return statistics


def has_labels(atoms: Atoms) -> bool:
    """True when the frame carries reference results (energy, forces or stress) as calculator results."""
    return atoms.calc is not None and any(key in atoms.calc.results for key in ('energy', 'forces', 'stress'))


def committee_mean_frames(frames: Sequence[Atoms]) -> list[Atoms]:
    """Copies of the frames whose calculator results are the committee mean predictions.

    For comparison with the labels only: these frames are never stored as a dataset.

    :raises ValueError: when a frame lacks the committee mean (the engine ran without ``--with-mean``).
    """
    predicted = []
    for index, atoms in enumerate(frames):
        if MEAN_ENERGY_KEY not in atoms.info or MEAN_FORCES_KEY not in atoms.arrays:
            raise ValueError(f'frame {index} has no committee mean prediction: run the engine with --with-mean')
        results = {'energy': float(atoms.info[MEAN_ENERGY_KEY]), 'forces': np.asarray(atoms.arrays[MEAN_FORCES_KEY])}
        stress = np.asarray(atoms.info.get(MEAN_STRESS_KEY, np.full(6, np.nan)), dtype=float)
        if np.isfinite(stress).all():
            results['stress'] = stress
        copy = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        copy.calc = SinglePointCalculator(copy, **results)
        predicted.append(copy)
    return predicted


def committee_metrics(frames: Sequence[Atoms]) -> dict[str, float | int | str]:
    """Errors of the committee mean against the frames' labels, flat, named as the training metrics.

    Keys (each quantity when every frame has its label): ``energy_{mae,rmse,max_abs}_eV_per_atom``
    (per-atom energy), ``forces_{mae,rmse,max_abs}_eV_per_A`` (force components),
    ``stress_{mae,rmse,max_abs}_GPa`` (6 Voigt components); ``num_frames``; ``prediction``
    (``'committee_mean'``); and, with forces and at least 3 frames of varying deviation,
    ``deviation_error_spearman``: Spearman's rank correlation between each frame's max force deviation and
    its true max force error (calibration target: > 0.5); with forces, ``per_species``: for each chemical
    species, ``forces_{mae,rmse,max_abs}_eV_per_A`` over its atoms' force components and ``num_atoms``.

    :raises ValueError: for frames without labels or without the committee mean.
    """
    unlabelled = [index for index, atoms in enumerate(frames) if not has_labels(atoms)]
    if unlabelled:
        raise ValueError(f'frames {unlabelled[:5]} have no labels to compare with')
    predicted = committee_mean_frames(frames)
    report = compare_frames(frames, predicted)
    metrics: dict[str, float | int | str] = {
        'num_frames': report['frames']['num_frames'],
        'prediction': 'committee_mean',
    }
    for quantity, (name, unit) in _METRIC_NAMES.items():
        if quantity in report:
            for statistic in ('mae', 'rmse', 'max_abs'):
                metrics[f'{name}_{statistic}_{unit}'] = report[quantity][statistic]
    if 'forces' in report:
        per_species = force_errors_per_species(
            [atoms.get_chemical_symbols() for atoms in frames],
            [atoms.calc.results['forces'] for atoms in frames],
            [atoms.calc.results['forces'] for atoms in predicted],
        )
        metrics['per_species'] = {
            symbol: {
                'forces_mae_eV_per_A': statistics.mae,
                'forces_rmse_eV_per_A': statistics.rmse,
                'forces_max_abs_eV_per_A': statistics.max_abs,
                'num_atoms': statistics.count // 3,
            }
            for symbol, statistics in per_species.items()
        }
        deviations = [float(atoms.info['max_force_deviation']) for atoms in frames]
        errors = max_force_errors(
            [atoms.calc.results['forces'] for atoms in frames], [atoms.calc.results['forces'] for atoms in predicted]
        )
        # too few frames, or constant deviations (e.g. a committee of one): no rank correlation
        with contextlib.suppress(ValueError):
            metrics['deviation_error_spearman'] = spearman_calibration(deviations, errors)
    return metrics


def json_ready(value):
    """Replace non-finite floats by None, recursively, so a dictionary can become a ``Dict`` node."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
