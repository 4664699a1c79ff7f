"""Phonon displacements with phonopy: finite displacements and random harmonic snapshots at a temperature.

Finite displacements (phonopy's systematic set, Togo, J. Phys. Soc. Jpn. 92, 012001 (2023)): one
atom of each symmetry-distinct site is moved by ``amplitude`` A (0.01-0.05 A is usual), in both
directions where symmetry asks for it; autoplex seeds its training sets the same way. Random
snapshots: given a potential for the force constants, displacements are drawn from the canonical
ensemble of the harmonic phonons at T (classical distribution by default), i.e. a random combination
of all modes with thermal amplitudes; the mean harmonic energy of such snapshots is (3N - 3) k_B T / 2.

Every structure records ``info['generator']`` (``'phonon_displacement'`` or ``'phonon_thermal'``),
``supercell_matrix`` and ``amplitude_A`` or ``temperature_K`` with ``copy_index``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from aiida_mlipgen.science.generators import supercell_repetitions
from aiida_mlipgen.science.structure_tools import (
    bare_copy,
    check_positive_int,
    enforce_max_atoms,
    settings_from_dict,
)

#: The largest finite displacement accepted, A: beyond it the harmonic picture stops holding.
MAX_AMPLITUDE_A = 0.1
DISTRIBUTIONS = ('classical', 'quantum')


@dataclass(frozen=True)
class PhononSettings:
    """Which phonon-displaced supercells to make.

    amplitudes_A: finite-displacement distances, A, each in (0, 0.1].
    temperatures_K: temperatures of random harmonic snapshots, K (needs ``potential``).
    snapshots_per_temperature: random snapshots per temperature.
    potential: name of a classical potential (``aiida_mlipgen.science.teacher.CLASSICAL_POTENTIALS``) for the
        force constants of the random snapshots.
    distribution: ``'classical'`` (as MD samples) or ``'quantum'`` (Bose-Einstein, with zero-point motion).
    min_atoms: the phonopy supercell is the smallest diagonal supercell of the seed with this many atoms.
    max_atoms: refuse larger supercells (each may be labelled with DFT).
    seed: random seed of the snapshots.
    """

    amplitudes_A: Sequence[float] = (0.01, 0.03)  # noqa: N815 - unit in the name
    temperatures_K: Sequence[float] = ()  # noqa: N815
    snapshots_per_temperature: int = 2
    potential: str | None = None
    distribution: str = 'classical'
    min_atoms: int | None = None
    max_atoms: int = 64
    seed: int = 0

    def __post_init__(self):
        for amplitude in self.amplitudes_A:
            if not 0 < amplitude <= MAX_AMPLITUDE_A:
                raise ValueError(f'phonon amplitudes must be in (0, {MAX_AMPLITUDE_A}] A, got {amplitude}')
        if any(not temperature > 0 for temperature in self.temperatures_K):
            raise ValueError(f'phonon temperatures must be > 0 K, got {self.temperatures_K}')
        if self.temperatures_K and self.potential is None:
            raise ValueError('random phonon snapshots at a temperature need a `potential` for the force constants')
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(f'phonon distribution must be one of {DISTRIBUTIONS}, got {self.distribution!r}')
        check_positive_int(self.snapshots_per_temperature, 'phonon_displacements.snapshots_per_temperature')
        if self.min_atoms is not None:
            check_positive_int(self.min_atoms, 'phonon_displacements.min_atoms')
        check_positive_int(self.max_atoms, 'phonon_displacements.max_atoms')

    @classmethod
    def from_dict(cls, values: Mapping | None) -> PhononSettings:
        """Settings from a plain dict (unknown keys refused)."""
        return settings_from_dict(cls, values, 'phonon_displacements')


def _phonopy(unit: Atoms, repetitions: Sequence[int]):
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    cell = PhonopyAtoms(
        symbols=unit.get_chemical_symbols(), cell=unit.cell.array, scaled_positions=unit.get_scaled_positions()
    )
    return Phonopy(cell, supercell_matrix=np.diag(repetitions))


def _atoms(phonopy_atoms, info: Mapping) -> Atoms:
    atoms = Atoms(
        symbols=phonopy_atoms.symbols,
        cell=phonopy_atoms.cell,
        scaled_positions=phonopy_atoms.scaled_positions,
        pbc=True,
    )
    atoms.info = dict(info)
    return atoms


def ideal_supercell(unit: Atoms, repetitions: Sequence[int]) -> Atoms:
    """Phonopy's supercell of ``unit`` (its atom order: displacements refer to it)."""
    return _atoms(_phonopy(unit, repetitions).supercell, {})


def displaced_supercells(unit: Atoms, repetitions: Sequence[int], amplitude_A: float) -> list[Atoms]:  # noqa: N803
    """Phonopy's systematic finite displacements of the supercell ``diag(repetitions)`` of ``unit``, A."""
    phonon = _phonopy(unit, repetitions)
    phonon.generate_displacements(distance=amplitude_A)
    info = {'generator': 'phonon_displacement', 'supercell_matrix': list(map(int, repetitions))}
    return [
        _atoms(cell, {**info, 'amplitude_A': float(amplitude_A), 'copy_index': index})
        for index, cell in enumerate(phonon.supercells_with_displacements)
    ]


def force_constants(unit: Atoms, repetitions: Sequence[int], calculator: Calculator, amplitude_A: float = 0.01):  # noqa: N803 - unit in the name
    """A phonopy object of the supercell with force constants (eV/A^2) from ``calculator``'s finite differences."""
    phonon = _phonopy(unit, repetitions)
    phonon.generate_displacements(distance=amplitude_A)
    forces = []
    for cell in phonon.supercells_with_displacements:
        atoms = _atoms(cell, {})
        atoms.calc = calculator
        forces.append(atoms.get_forces().copy())
    phonon.forces = np.array(forces)
    phonon.produce_force_constants()
    return phonon


def thermal_snapshots(
    unit: Atoms,
    repetitions: Sequence[int],
    calculator: Calculator,
    temperature_K: float,  # noqa: N803 - unit in the name
    count: int,
    seed: int = 0,
    distribution: str = 'classical',
) -> list[Atoms]:
    """``count`` supercells displaced by random harmonic-phonon amplitudes at ``temperature_K`` (phonopy)."""
    phonon = force_constants(unit, repetitions, calculator)
    phonon.init_random_displacements(dist_func=distribution)
    displacements = phonon.get_random_displacements_at_temperature(temperature_K, count, random_seed=seed)
    ideal = _atoms(phonon.supercell, {})
    snapshots = []
    for index, displacement in enumerate(displacements):
        atoms = bare_copy(ideal)
        atoms.positions = ideal.positions + displacement
        atoms.info = {
            'generator': 'phonon_thermal',
            'supercell_matrix': list(map(int, repetitions)),
            'temperature_K': float(temperature_K),
            'distribution': distribution,
            'copy_index': index,
        }
        snapshots.append(atoms)
    return snapshots


def phonon_structures(seed: Atoms, settings: PhononSettings, calculator: Calculator | None = None) -> list[Atoms]:
    """Finite-displacement supercells for every amplitude, then random snapshots for every temperature.

    :param calculator: the potential's calculator (only needed with ``temperatures_K``).
    """
    repetitions = supercell_repetitions(seed, min_atoms=settings.min_atoms) if settings.min_atoms else [1, 1, 1]
    if len(seed) * int(np.prod(repetitions)) > settings.max_atoms:
        enforce_max_atoms([ideal_supercell(seed, repetitions)], settings.max_atoms, 'phonon_displacements')
    frames = []
    for amplitude in settings.amplitudes_A:
        frames += displaced_supercells(seed, repetitions, amplitude)
    if settings.temperatures_K:
        if calculator is None:
            raise ValueError('random phonon snapshots need a calculator for the force constants')
        for offset, temperature in enumerate(settings.temperatures_K):
            frames += thermal_snapshots(
                seed,
                repetitions,
                calculator,
                temperature,
                settings.snapshots_per_temperature,
                seed=settings.seed + offset,
                distribution=settings.distribution,
            )
    return frames
