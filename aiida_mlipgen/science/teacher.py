"""A cheap classical teacher for examples, benchmarks and tests: Stillinger-Weber silicon.

matscipy's pure-Python ``Manybody`` calculator with the PRB 31, 5262 parameters: energies, forces
and stresses that match finite differences to 1e-8, no download. It stands in for DFT where only
speed matters; the product labels with Quantum ESPRESSO.
"""

from __future__ import annotations

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


def label_frames(frames: Iterable[Atoms], calculator: Calculator, stress: bool = True) -> list[Atoms]:
    """Copies of ``frames`` carrying the teacher's energy, forces (and stress) as single-point labels."""
    labelled = []
    for atoms in frames:
        copy = atoms.copy()
        copy.calc = calculator
        results = {'energy': copy.get_potential_energy(), 'forces': copy.get_forces()}
        if stress:
            results['stress'] = copy.get_stress()
        copy.calc = SinglePointCalculator(copy, **results)
        labelled.append(copy)
    return labelled


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
