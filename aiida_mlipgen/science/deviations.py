"""Committee disagreement measures (DP-GEN definitions), from the predictions of N models.

Shapes: N committee members, M frames, A atoms per frame (frames of one batch may differ in
size, so per-frame functions take one frame; batch helpers loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrameDeviation:
    """Committee disagreement for one frame.

    max_force_deviation: max over atoms of sqrt(mean_k |F_ik - <F_i>|^2), eV/A (DP-GEN's max_devi_f).
    mean_force_deviation: the same per-atom quantity averaged over atoms, eV/A.
    energy_deviation_per_atom: standard deviation of the members' total energies divided by the
        number of atoms, eV/atom.
    stress_deviation: max over the 6 Voigt components of the members' standard deviation, eV/A^3
        (nan when stresses are not given).
    """

    max_force_deviation: float
    mean_force_deviation: float
    energy_deviation_per_atom: float
    stress_deviation: float


def per_atom_force_deviation(forces: np.ndarray) -> np.ndarray:
    """Per-atom committee force deviation sqrt(mean_k |F_ik - <F_i>|^2), eV/A.

    :param forces: array (N members, A atoms, 3) of forces in eV/A.
    :return: array (A,) in eV/A.
    """
    forces = np.asarray(forces, dtype=float)
    if forces.ndim != 3 or forces.shape[-1] != 3:
        raise ValueError(f'forces must have shape (members, atoms, 3), got {forces.shape}')
    if forces.shape[0] < 2:
        raise ValueError('a committee deviation needs at least two members')
    deviation = forces - forces.mean(axis=0, keepdims=True)
    return np.sqrt((deviation**2).sum(axis=-1).mean(axis=0))


def frame_deviation(energies: np.ndarray, forces: np.ndarray, stresses: np.ndarray | None = None) -> FrameDeviation:
    """Committee deviations of one frame.

    :param energies: (N,) total energies of the members, eV.
    :param forces: (N, A, 3) forces, eV/A.
    :param stresses: optional (N, 6) Voigt or (N, 3, 3) stresses, eV/A^3.
    """
    energies = np.asarray(energies, dtype=float)
    per_atom = per_atom_force_deviation(forces)
    n_atoms = per_atom.shape[0]
    if energies.shape != (np.asarray(forces).shape[0],):
        raise ValueError('energies must have one value per committee member')
    stress_deviation = float('nan')
    if stresses is not None:
        stresses = np.asarray(stresses, dtype=float).reshape(len(energies), -1)
        stress_deviation = float(stresses.std(axis=0).max())
    return FrameDeviation(
        max_force_deviation=float(per_atom.max()),
        mean_force_deviation=float(per_atom.mean()),
        energy_deviation_per_atom=float(energies.std() / n_atoms),
        stress_deviation=stress_deviation,
    )
