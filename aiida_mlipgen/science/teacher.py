"""A cheap classical teacher for examples, benchmarks and tests: Stillinger-Weber silicon.

matscipy's pure-Python ``Manybody`` calculator with the PRB 31, 5262 parameters: energies, forces
and stresses that match finite differences to 1e-8, no download. It stands in for DFT where only
speed matters; the product labels with Quantum ESPRESSO.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator


def stillinger_weber_silicon() -> Calculator:
    """matscipy's Stillinger-Weber silicon calculator (eV, eV/A, eV/A^3)."""
    from matscipy.calculators.manybody import Manybody
    from matscipy.calculators.manybody.explicit_forms.stillinger_weber import (
        Stillinger_Weber_PRB_31_5262_Si,
        StillingerWeber,
    )

    return Manybody(**StillingerWeber(Stillinger_Weber_PRB_31_5262_Si))


#: Tersoff's Si-Ge parameters (J. Tersoff, Phys. Rev. B 39, 5566 (1989); LAMMPS' SiCGe.tersoff), in
#: matscipy's layout: pair parameters as (Si-Si, Si-Ge, Ge-Ge), A/B geometric and lambda/mu arithmetic
#: means, cutoffs R (r1) and S (r2) geometric means, chi_SiGe = 1.00061.
TERSOFF_PRB_39_5566_SI_GE = {
    '__ref__': 'Tersoff J., Phys. Rev. B 39, 5566 (1989)',
    'style': 'Tersoff',
    'el': ['Si', 'Ge'],
    'A': [1830.8, math.sqrt(1830.8 * 1769.0), 1769.0],
    'B': [471.18, math.sqrt(471.18 * 419.23), 419.23],
    'chi': [1.0, 1.00061, 1.0],
    'lambda': [2.4799, (2.4799 + 2.4451) / 2, 2.4451],
    'mu': [1.7322, (1.7322 + 1.7047) / 2, 1.7047],
    'lambda3': [0.0, 0.0, 0.0],
    'beta': [1.1000e-6, 9.0166e-7],
    'n': [0.78734, 0.75627],
    'c': [1.0039e5, 1.0643e5],
    'd': [16.217, 15.652],
    'h': [-0.59825, -0.43884],
    'r1': [2.7, math.sqrt(2.7 * 2.8), 2.8],
    'r2': [3.0, math.sqrt(3.0 * 3.1), 3.1],
}


def tersoff_silicon_germanium() -> Calculator:
    """matscipy's Tersoff calculator with Tersoff's 1989 Si-Ge parameters (eV, eV/A, eV/A^3)."""
    from matscipy.calculators.manybody import Manybody
    from matscipy.calculators.manybody.explicit_forms.tersoff_brenner import TersoffBrenner

    return Manybody(**TersoffBrenner(TERSOFF_PRB_39_5566_SI_GE))


#: Classical potentials by name, with the species each covers: cheap forces for the structure generators
#: (melt-quench MD, phonon force constants) and teachers for rehearsals.
CLASSICAL_POTENTIALS = {
    'stillinger_weber_si': (stillinger_weber_silicon, frozenset({'Si'})),
    'tersoff_sige': (tersoff_silicon_germanium, frozenset({'Si', 'Ge'})),
}


def classical_potential(name: str, species: Iterable[str] = ()) -> Calculator:
    """A new calculator of the classical potential ``name`` (see ``CLASSICAL_POTENTIALS``).

    :raises ValueError: for an unknown name, or when the potential does not cover every one of ``species``.
    """
    if name not in CLASSICAL_POTENTIALS:
        raise ValueError(f'unknown classical potential {name!r}; known: {sorted(CLASSICAL_POTENTIALS)}')
    factory, covered = CLASSICAL_POTENTIALS[name]
    missing = set(species) - covered
    if missing:
        raise ValueError(f'the potential {name!r} covers {sorted(covered)}, not {sorted(missing)}')
    return factory()


def label_frame(atoms: Atoms, calculator: Calculator, stress: bool = True) -> Atoms:
    """A copy of ``atoms`` (``info`` kept) with the teacher's energy, forces (and stress) as single-point labels.

    :raises ValueError: when a result is not finite.
    """
    import numpy as np

    copy = atoms.copy()
    copy.calc = calculator
    results = {'energy': float(copy.get_potential_energy()), 'forces': np.array(copy.get_forces(), dtype=float)}
    if stress:
        results['stress'] = np.array(copy.get_stress(voigt=True), dtype=float)
    for name, value in results.items():
        if not np.isfinite(value).all():
            raise ValueError(f'the teacher returned a non-finite {name}')
    copy.calc = SinglePointCalculator(copy, **results)
    return copy


def label_frames(frames: Iterable[Atoms], calculator: Calculator, stress: bool = True) -> list[Atoms]:
    """Copies of ``frames`` carrying the teacher's energy, forces (and stress) as single-point labels."""
    return [label_frame(atoms, calculator, stress) for atoms in frames]


def sw_silicon_frames(count: int, seed: int = 0, stress: bool = True) -> list[Atoms]:
    """``count`` 8-atom diamond Si cells, strained (symmetric, +-3 %) and rattled (0.08 A), labelled with SW."""
    import numpy as np
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        atoms = bulk('Si', 'diamond', a=5.43, cubic=True)
        strain = np.eye(3) + rng.uniform(-0.03, 0.03, (3, 3))
        atoms.set_cell(atoms.cell @ (0.5 * (strain + strain.T)), scale_atoms=True)
        atoms.positions += rng.normal(0.0, 0.08, atoms.positions.shape)
        frames.append(atoms)
    return label_frames(frames, stillinger_weber_silicon(), stress=stress)
