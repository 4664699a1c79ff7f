"""Initial-set generators: supercells, rattled and strained copies of seed structures.

Every function returns new :class:`ase.Atoms` (inputs are never changed) without calculator
results, and records how each copy was made in ``atoms.info``: ``generator`` names the last step
(``'supercell'``, ``'rattle'``, ``'volume_strain'``, ``'shear_strain'``) and further keys hold its
parameters (``supercell_repetitions``, ``amplitude_A``, ``seed``, ``copy_index``,
``volume_change_percent``, ``shear_strain``, ``shear_plane``). Keys of earlier steps stay, so a
rattled supercell still carries its repetitions. Usual ranges: rattle 0.01-0.1 A, volume +-10 %,
shear a few % (DP-GEN's init_bulk perturbs atoms by 0.01 A and cells by 3 %; docs/generators.md).
"""

from __future__ import annotations

import copy as copying
import math
from collections.abc import Sequence

import numpy as np
from ase import Atoms

#: Cartesian index pairs of the shear planes.
SHEAR_PLANES = {'xy': (0, 1), 'xz': (0, 2), 'yz': (1, 2)}


def _copy_without_results(atoms: Atoms) -> Atoms:
    copy = atoms.copy()  # Atoms.copy drops the calculator, so no labels travel with the copy
    copy.info = copying.deepcopy(atoms.info)  # Atoms.copy shares the info values
    return copy


def _require_periodic_cell(atoms: Atoms, what: str) -> None:
    if atoms.cell.rank != 3:
        raise ValueError(f'{what} needs a structure with a full 3D cell, got cell rank {atoms.cell.rank}')


def perpendicular_widths(atoms: Atoms) -> np.ndarray:
    """Distances between opposite cell faces, A: V / |a_j x a_k| for each lattice vector a_i."""
    _require_periodic_cell(atoms, 'a perpendicular width')
    cell = atoms.cell.array
    volume = abs(np.linalg.det(cell))
    return np.array([volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)])


def supercell_repetitions(
    atoms: Atoms,
    min_atoms: int | None = None,
    min_width_A: float | None = None,  # noqa: N803 - unit in the name
) -> list[int]:
    """Diagonal repetitions (n1, n2, n3) reaching ``min_width_A`` and then ``min_atoms``.

    First each periodic direction is repeated until its perpendicular width is >= ``min_width_A``
    (A; e.g. twice a model cutoff, so no atom sees its own image within the cutoff); then, while
    the supercell has fewer than ``min_atoms`` atoms, the periodic direction with the smallest
    width is repeated once more (lowest index on ties). Non-periodic directions are never repeated.
    """
    if min_atoms is None and min_width_A is None:
        raise ValueError('give min_atoms, min_width_A or both')
    if min_atoms is not None and (isinstance(min_atoms, bool) or int(min_atoms) != min_atoms or min_atoms < 1):
        raise ValueError(f'min_atoms must be a positive integer, got {min_atoms}')
    if min_width_A is not None and not (math.isfinite(min_width_A) and min_width_A > 0):
        raise ValueError(f'min_width_A must be a positive number (A), got {min_width_A}')
    if len(atoms) == 0:
        raise ValueError('cannot build a supercell of a structure without atoms')
    periodic = np.asarray(atoms.pbc, dtype=bool)
    if not periodic.any():
        raise ValueError('a supercell needs at least one periodic direction')
    widths = perpendicular_widths(atoms)
    repetitions = np.ones(3, dtype=int)
    if min_width_A is not None:
        needed = np.ceil(min_width_A / widths - 1e-12).astype(int)
        repetitions[periodic] = np.maximum(needed[periodic], 1)
    if min_atoms is not None:
        while len(atoms) * repetitions.prod() < min_atoms:
            current = np.where(periodic, widths * repetitions, np.inf)
            repetitions[int(np.argmin(current))] += 1
    return repetitions.tolist()


def make_supercell(atoms: Atoms, min_atoms: int | None = None, min_width_A: float | None = None) -> Atoms:  # noqa: N803
    """A diagonal supercell of ``atoms`` (see :func:`supercell_repetitions` for the rule)."""
    repetitions = supercell_repetitions(atoms, min_atoms=min_atoms, min_width_A=min_width_A)
    supercell = _copy_without_results(atoms).repeat(repetitions)
    supercell.info = copying.deepcopy(atoms.info)
    supercell.info.update(generator='supercell', supercell_repetitions=list(repetitions))
    return supercell


def rattled_copies(
    atoms: Atoms,
    amplitudes_A: Sequence[float],  # noqa: N803 - unit in the name
    copies_per_amplitude: int = 1,
    seed: int = 0,
) -> list[Atoms]:
    """Copies with every Cartesian coordinate displaced by a Gaussian of std ``amplitude`` (A).

    The root-mean-square displacement of an atom is therefore sqrt(3) x amplitude. One random
    stream (``numpy.random.default_rng(seed)``) serves every copy in order, so a call with the same
    arguments gives the same structures.

    :param amplitudes_A: Gaussian standard deviations per Cartesian component, A, > 0.
    :param copies_per_amplitude: copies drawn for each amplitude, >= 1.
    :param seed: seed of the random stream.
    :return: ``len(amplitudes_A) * copies_per_amplitude`` structures, amplitudes in the given order.
    """
    amplitudes = [float(amplitude) for amplitude in amplitudes_A]
    for amplitude in amplitudes:
        if not (math.isfinite(amplitude) and amplitude > 0):
            raise ValueError(f'rattle amplitudes must be positive numbers (A), got {amplitude}')
    if (
        isinstance(copies_per_amplitude, bool)
        or int(copies_per_amplitude) != copies_per_amplitude
        or copies_per_amplitude < 1
    ):
        raise ValueError(f'copies_per_amplitude must be a positive integer, got {copies_per_amplitude}')
    generator = np.random.default_rng(seed)
    copies = []
    for amplitude in amplitudes:
        for index in range(copies_per_amplitude):
            copy = _copy_without_results(atoms)
            copy.positions = copy.positions + generator.normal(0.0, amplitude, size=copy.positions.shape)
            copy.info.update(generator='rattle', amplitude_A=amplitude, seed=int(seed), copy_index=index)
            copies.append(copy)
    return copies


def _deformed(atoms: Atoms, deformation: np.ndarray) -> Atoms:
    """Copy with cell rows a_i -> a_i F^T and fractional coordinates kept."""
    copy = _copy_without_results(atoms)
    copy.set_cell(atoms.cell.array @ deformation.T, scale_atoms=True)
    return copy


def volume_strained_copies(atoms: Atoms, volume_changes_percent: Sequence[float]) -> list[Atoms]:
    """Isotropically scaled copies whose volume is V (1 + change / 100), fractional coordinates kept.

    :param volume_changes_percent: e.g. ``[-10, -5, 5, 10]``; each > -100.
    """
    _require_periodic_cell(atoms, 'a volume strain')
    copies = []
    for change in volume_changes_percent:
        change = float(change)
        if not (math.isfinite(change) and change > -100):
            raise ValueError(f'volume changes must be numbers above -100 %, got {change}')
        scale = (1.0 + change / 100.0) ** (1.0 / 3.0)
        copy = _deformed(atoms, scale * np.eye(3))
        copy.info.update(generator='volume_strain', volume_change_percent=change)
        copies.append(copy)
    return copies


def shear_strained_copies(
    atoms: Atoms, shear_strains: Sequence[float], planes: Sequence[str] = ('xy', 'xz', 'yz')
) -> list[Atoms]:
    """Volume-preserving sheared copies, one per (strain, plane), fractional coordinates kept.

    For plane ab and strain e the deformation is F = (I + E) / det(I + E)^(1/3) with the symmetric
    (tensor) strain E_ab = E_ba = e, so shape changes while the volume stays exactly the same, which
    keeps shear apart from :func:`volume_strained_copies`.

    :param shear_strains: tensor shear strains (dimensionless, e.g. 0.02), each with |e| < 1.
    :param planes: any of ``'xy'``, ``'xz'``, ``'yz'`` (Cartesian).
    """
    _require_periodic_cell(atoms, 'a shear strain')
    unknown = [plane for plane in planes if plane not in SHEAR_PLANES]
    if unknown:
        raise ValueError(f'unknown shear planes {unknown}; choose from {sorted(SHEAR_PLANES)}')
    copies = []
    for strain in shear_strains:
        strain = float(strain)
        if not (math.isfinite(strain) and abs(strain) < 1):
            raise ValueError(f'shear strains must be numbers with |e| < 1, got {strain}')
        for plane in planes:
            a, b = SHEAR_PLANES[plane]
            deformation = np.eye(3)
            deformation[a, b] = deformation[b, a] = strain
            deformation /= np.linalg.det(deformation) ** (1.0 / 3.0)
            copy = _deformed(atoms, deformation)
            copy.info.update(generator='shear_strain', shear_strain=strain, shear_plane=plane)
            copies.append(copy)
    return copies
