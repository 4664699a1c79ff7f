"""Sanity gates on labelled frames: overlapping atoms, unconverged SCF runs and unphysical DFT forces.

A frame that passes the DFT run but fails one of these gates is quarantined with the reasons
recorded, never added to a training set. Defaults (why: docs/labelling.md): |F| > 10 eV/A on any
atom, net force per atom > 1 meV/A, atoms closer than half the sum of their covalent radii.
"""

from __future__ import annotations

import math

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list

#: Default largest force on one atom, eV/A.
DEFAULT_MAX_FORCE = 10.0
#: Default largest net force per atom |sum_i F_i| / N, eV/A (1 meV/A).
DEFAULT_MAX_NET_FORCE_PER_ATOM = 0.001
#: Default fraction of the covalent-radius sum below which two atoms overlap.
DEFAULT_MIN_DISTANCE_RATIO = 0.5


def close_contacts(
    atoms: Atoms, min_distance_ratio: float = DEFAULT_MIN_DISTANCE_RATIO
) -> list[tuple[int, int, float, float]]:
    """Pairs of atoms closer than ``min_distance_ratio * (r_cov,i + r_cov,j)``.

    Distances include every periodic image (ASE's ``neighbor_list`` with per-atom radii), so the
    search is correct for small and strongly skewed cells, and an atom too close to its own periodic
    image is reported as the pair ``(i, i)``. Covalent radii are ASE's (Cordero et al., Dalton
    Trans. 2008, 2832), in A.

    :param atoms: the structure; periodic directions follow ``atoms.pbc``.
    :param min_distance_ratio: fraction of the covalent-radius sum, > 0.
    :return: ``(i, j, distance_A, threshold_A)`` with ``i <= j``, one entry per pair of atoms holding
        the shortest distance over images, sorted by ``(i, j)``; empty when no atoms overlap.
    """
    if not (math.isfinite(min_distance_ratio) and min_distance_ratio > 0):
        raise ValueError(f'min_distance_ratio must be a positive number, got {min_distance_ratio}')
    if len(atoms) == 0:
        return []
    radii = min_distance_ratio * covalent_radii[atoms.numbers]
    first, second, distances = neighbor_list('ijd', atoms, radii)
    shortest: dict[tuple[int, int], float] = {}
    for i, j, distance in zip(first.tolist(), second.tolist(), distances.tolist(), strict=True):
        key = (i, j) if i <= j else (j, i)
        if distance < shortest.get(key, math.inf):
            shortest[key] = distance
    return [(i, j, distance, float(radii[i] + radii[j])) for (i, j), distance in sorted(shortest.items())]


def force_gate_failures(
    forces_eV_per_A: np.ndarray,  # noqa: N803 - the unit is part of the name
    max_force: float = DEFAULT_MAX_FORCE,
    max_net_force_per_atom: float = DEFAULT_MAX_NET_FORCE_PER_ATOM,
) -> list[str]:
    """Reasons why a frame's DFT forces look unphysical; an empty list when they pass.

    Checks, in this order: every component is finite; every atom's force norm |F_i| is at most
    ``max_force`` (eV/A); the net force per atom |sum_i F_i| / N is at most
    ``max_net_force_per_atom`` (eV/A). A converged plane-wave calculation has a net force of
    numerical-noise size (translational invariance); a large one flags a broken calculation.

    :param forces_eV_per_A: array (N atoms, 3), eV/A.
    :param max_force: largest allowed per-atom force norm, eV/A, > 0.
    :param max_net_force_per_atom: largest allowed net force per atom, eV/A, >= 0.
    :return: human-readable reasons, e.g. ``'atom 3 has |F| = 12.1 eV/A > 10 eV/A'``.
    """
    if not (math.isfinite(max_force) and max_force > 0):
        raise ValueError(f'max_force must be a positive number (eV/A), got {max_force}')
    if not (math.isfinite(max_net_force_per_atom) and max_net_force_per_atom >= 0):
        raise ValueError(f'max_net_force_per_atom must be a non-negative number (eV/A), got {max_net_force_per_atom}')
    forces = np.asarray(forces_eV_per_A, dtype=float)
    if forces.ndim != 2 or forces.shape[1] != 3 or forces.shape[0] == 0:
        raise ValueError(f'forces must have shape (atoms, 3) with at least one atom, got {forces.shape}')

    non_finite = np.flatnonzero(~np.isfinite(forces).all(axis=1))
    if non_finite.size:
        return [f'non-finite forces on atoms {non_finite.tolist()}']

    reasons = []
    norms = np.linalg.norm(forces, axis=1)
    for index in np.flatnonzero(norms > max_force):
        reasons.append(f'atom {index} has |F| = {norms[index]:.3g} eV/A > {max_force:g} eV/A')
    net_per_atom = float(np.linalg.norm(forces.sum(axis=0)) / len(forces))
    if net_per_atom > max_net_force_per_atom:
        reasons.append(f'net force per atom {net_per_atom:.3g} eV/A > {max_net_force_per_atom:g} eV/A')
    return reasons


def close_contact_failures(atoms: Atoms, min_distance_ratio: float = DEFAULT_MIN_DISTANCE_RATIO) -> list[str]:
    """Human-readable reasons for every close contact found by :func:`close_contacts`."""
    symbols = atoms.get_chemical_symbols()
    reasons = []
    for i, j, distance, threshold in close_contacts(atoms, min_distance_ratio):
        pair = (
            f'atom {i} ({symbols[i]}) and its own periodic image'
            if i == j
            else (f'atoms {i} ({symbols[i]}) and {j} ({symbols[j]})')
        )
        reasons.append(f'{pair} are {distance:.3g} A apart < {threshold:.3g} A')
    return reasons


#: How far above the threshold the last printed SCF accuracy may be: pw.x prints it with one or two
#: significant digits, so a converged run can print up to about twice its threshold; an unconverged
#: one is orders of magnitude above it.
SCF_ACCURACY_PRINT_SLACK = 2.0


def scf_convergence_failures(scf_accuracy_eV: list[float], conv_thr_eV: float) -> list[str]:  # noqa: N803
    """Reasons why a pw.x run's last SCF did not reach its threshold; an empty list when it did.

    pw.x's own test is "estimated scf accuracy < conv_thr"; this repeats it on the run's printed
    accuracies, because pw.x can say "convergence has been achieved" when it was not (with
    ``scf_must_converge = .false.`` it stops at ``electron_maxstep`` and prints that line anyway).

    :param scf_accuracy_eV: the estimated SCF accuracy of every SCF iteration of the run, eV.
    :param conv_thr_eV: the run's ``ELECTRONS.conv_thr``, in eV.
    """
    if not (math.isfinite(conv_thr_eV) and conv_thr_eV > 0):
        raise ValueError(f'conv_thr must be a positive number (eV), got {conv_thr_eV}')
    if len(scf_accuracy_eV) == 0:
        return ['the output gives no SCF accuracy: whether the SCF converged is unknown']
    last = float(scf_accuracy_eV[-1])
    if not (math.isfinite(last) and last <= SCF_ACCURACY_PRINT_SLACK * conv_thr_eV):
        return [f'SCF not converged: estimated accuracy {last:.3g} eV > conv_thr {conv_thr_eV:.3g} eV']
    return []
