"""Error metrics of a model against reference labels, and calibration of committee deviations.

Definitions (those with which MLIP validation targets are usually quoted):

* energy: errors of the total energy divided by the number of atoms of the frame, eV/atom;
* forces: errors of every Cartesian force component of every atom of every frame, eV/A;
* stress: errors of the 6 independent (Voigt: xx, yy, zz, yz, xz, xy) components of every frame,
  converted from eV/A^3 to GPa (1 eV/A^3 = 160.2177 GPa);
* MAE = mean |error|, RMSE = sqrt(mean error^2), ``max_abs`` = max |error|.

Calibration: Spearman's rank correlation between each frame's committee max force deviation and
its true max force error max_i |F_i,model - F_i,ref| (eV/A); a useful uncertainty ranks errors,
rho > 0.5 being a common target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from ase import Atoms, units
from scipy.stats import spearmanr

#: Tolerance on positions when pairing reference and predicted frames, A.
POSITION_TOLERANCE_A = 1e-6


@dataclass(frozen=True)
class ErrorStatistics:
    """MAE, RMSE and largest absolute error over ``count`` values (units those of the quantity)."""

    mae: float
    rmse: float
    max_abs: float
    count: int

    def as_dict(self) -> dict[str, float]:
        """JSON-ready dictionary."""
        return asdict(self)


def error_statistics(reference: np.ndarray, predicted: np.ndarray) -> ErrorStatistics:
    """Statistics of ``predicted - reference`` over all elements of two arrays of equal shape."""
    reference = np.asarray(reference, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    if reference.shape != predicted.shape:
        raise ValueError(f'reference shape {reference.shape} differs from predicted shape {predicted.shape}')
    if reference.size == 0:
        raise ValueError('no values to compare')
    errors = (predicted - reference).ravel()
    if not np.isfinite(errors).all():
        raise ValueError('reference or predicted values hold non-finite numbers')
    return ErrorStatistics(
        mae=float(np.abs(errors).mean()),
        rmse=float(np.sqrt((errors**2).mean())),
        max_abs=float(np.abs(errors).max()),
        count=int(errors.size),
    )


def energy_per_atom_errors(
    reference_energies: Sequence[float], predicted_energies: Sequence[float], num_atoms: Sequence[int]
) -> ErrorStatistics:
    """Per-atom energy errors, eV/atom, from total energies (eV) and atom counts per frame."""
    sizes = np.asarray(num_atoms, dtype=float)
    if np.any(sizes <= 0):
        raise ValueError('every frame needs at least one atom')
    reference = np.asarray(reference_energies, dtype=float)
    predicted = np.asarray(predicted_energies, dtype=float)
    if not reference.shape == predicted.shape == sizes.shape:
        raise ValueError('energies and atom counts must have one value per frame')
    return error_statistics(reference / sizes, predicted / sizes)


def force_component_errors(
    reference_forces: Sequence[np.ndarray], predicted_forces: Sequence[np.ndarray]
) -> ErrorStatistics:
    """Force-component errors, eV/A, over frames that may differ in size ((A_m, 3) each)."""
    if len(reference_forces) != len(predicted_forces):
        raise ValueError(f'{len(reference_forces)} reference frames but {len(predicted_forces)} predicted')
    return error_statistics(_stack_forces(reference_forces), _stack_forces(predicted_forces))


def force_errors_per_species(
    symbols: Sequence[Sequence[str]], reference_forces: Sequence[np.ndarray], predicted_forces: Sequence[np.ndarray]
) -> dict[str, ErrorStatistics]:
    """Force-component errors, eV/A, of the atoms of each chemical species, over frames of any size.

    :param symbols: the chemical symbol of every atom, frame by frame (as ``Atoms.get_chemical_symbols``).
    :return: species -> statistics (``count`` is 3 x the number of atoms of that species), sorted by symbol.
    """
    if not len(symbols) == len(reference_forces) == len(predicted_forces):
        raise ValueError('symbols, reference and predicted forces must have one entry per frame')
    species = np.concatenate([np.asarray(frame, dtype=str) for frame in symbols]) if symbols else np.zeros(0, str)
    reference = _stack_forces(reference_forces)
    predicted = _stack_forces(predicted_forces)
    if not species.shape[0] == reference.shape[0] == predicted.shape[0]:
        raise ValueError('every atom needs a symbol, a reference force and a predicted force')
    return {
        symbol: error_statistics(reference[species == symbol], predicted[species == symbol])
        for symbol in sorted(set(species.tolist()))
    }


def _stack_forces(forces: Sequence[np.ndarray]) -> np.ndarray:
    arrays = [np.asarray(item, dtype=float).reshape(-1, 3) for item in forces]
    return np.concatenate(arrays) if arrays else np.zeros((0, 3))


def _voigt(stress: np.ndarray) -> np.ndarray:
    stress = np.asarray(stress, dtype=float)
    if stress.shape == (6,):
        return stress
    if stress.shape == (3, 3):
        return stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    raise ValueError(f'a stress must have shape (6,) or (3, 3), got {stress.shape}')


def stress_errors_gpa(
    reference_stresses: Sequence[np.ndarray], predicted_stresses: Sequence[np.ndarray]
) -> ErrorStatistics:
    """Stress errors in GPa over the 6 Voigt components, from stresses in eV/A^3 ((6,) or (3, 3))."""
    if len(reference_stresses) != len(predicted_stresses):
        raise ValueError(f'{len(reference_stresses)} reference stresses but {len(predicted_stresses)} predicted')
    reference = np.array([_voigt(item) for item in reference_stresses]).reshape(-1, 6) / units.GPa
    predicted = np.array([_voigt(item) for item in predicted_stresses]).reshape(-1, 6) / units.GPa
    return error_statistics(reference, predicted)


def max_force_errors(reference_forces: Sequence[np.ndarray], predicted_forces: Sequence[np.ndarray]) -> np.ndarray:
    """Per frame, the largest per-atom force error norm max_i |F_i,pred - F_i,ref|, eV/A."""
    if len(reference_forces) != len(predicted_forces):
        raise ValueError(f'{len(reference_forces)} reference frames but {len(predicted_forces)} predicted')
    errors = []
    for index, (reference, predicted) in enumerate(zip(reference_forces, predicted_forces, strict=True)):
        reference = np.asarray(reference, dtype=float).reshape(-1, 3)
        predicted = np.asarray(predicted, dtype=float).reshape(-1, 3)
        if reference.shape != predicted.shape or reference.size == 0:
            raise ValueError(f'frame {index}: force shapes {reference.shape} and {predicted.shape} do not match')
        errors.append(float(np.linalg.norm(predicted - reference, axis=1).max()))
    return np.asarray(errors)


def spearman_calibration(deviations: Sequence[float], true_errors: Sequence[float]) -> float:
    """Spearman's rank correlation between committee deviations and true errors (any units).

    :raises ValueError: with fewer than 3 frames, non-finite values, or a constant input (the rank
        correlation is then undefined).
    """
    deviations = np.asarray(deviations, dtype=float).ravel()
    true_errors = np.asarray(true_errors, dtype=float).ravel()
    if deviations.shape != true_errors.shape:
        raise ValueError(f'{deviations.size} deviations but {true_errors.size} errors')
    if deviations.size < 3:
        raise ValueError('a rank correlation needs at least 3 frames')
    if not (np.isfinite(deviations).all() and np.isfinite(true_errors).all()):
        raise ValueError('deviations and errors must be finite')
    if np.ptp(deviations) == 0 or np.ptp(true_errors) == 0:
        raise ValueError('a rank correlation is undefined when all deviations or all errors are equal')
    return float(spearmanr(deviations, true_errors).statistic)


def _results(atoms: Atoms, index: int, role: str) -> dict:
    if atoms.calc is None or not atoms.calc.results:
        raise ValueError(f'{role} frame {index} has no calculator results')
    return atoms.calc.results


def compare_frames(reference: Sequence[Atoms], predicted: Sequence[Atoms]) -> dict[str, dict]:
    """Energy (eV/atom), force (eV/A) and stress (GPa) errors of ``predicted`` against ``reference``.

    Frames are paired by position in the lists and must hold the same atoms at the same positions.
    Each quantity is reported when every reference and predicted frame has it.

    :return: ``{'energy_per_atom': {...}, 'forces': {...}, 'stress': {...}}``, each
        :meth:`ErrorStatistics.as_dict` plus its ``'unit'`` (``'eV/atom'``, ``'eV/A'``, ``'GPa'``),
        and ``{'num_frames': n}`` under ``'frames'``.
    """
    if len(reference) != len(predicted):
        raise ValueError(f'{len(reference)} reference frames but {len(predicted)} predicted')
    if not reference:
        raise ValueError('no frames to compare')
    pairs = []
    for index, (ref, pred) in enumerate(zip(reference, predicted, strict=True)):
        if len(ref) != len(pred) or np.any(ref.numbers != pred.numbers):
            raise ValueError(f'frame {index}: reference and predicted frames hold different atoms')
        if not np.allclose(ref.positions, pred.positions, rtol=0, atol=POSITION_TOLERANCE_A):
            raise ValueError(f'frame {index}: reference and predicted positions differ')
        pairs.append((_results(ref, index, 'reference'), _results(pred, index, 'predicted')))

    def available(key: str) -> bool:
        return all(key in ref and key in pred for ref, pred in pairs)

    report: dict[str, dict] = {'frames': {'num_frames': len(pairs)}}
    if available('energy'):
        report['energy_per_atom'] = energy_per_atom_errors(
            [ref['energy'] for ref, _ in pairs],
            [pred['energy'] for _, pred in pairs],
            [len(a) for a in reference],
        ).as_dict() | {'unit': 'eV/atom'}
    if available('forces'):
        report['forces'] = force_component_errors(
            [ref['forces'] for ref, _ in pairs], [pred['forces'] for _, pred in pairs]
        ).as_dict() | {'unit': 'eV/A'}
    if available('stress'):
        report['stress'] = stress_errors_gpa(
            [ref['stress'] for ref, _ in pairs], [pred['stress'] for _, pred in pairs]
        ).as_dict() | {'unit': 'GPa'}
    return report
