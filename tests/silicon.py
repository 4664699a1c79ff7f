"""Silicon test data shared by every test directory: the Stillinger-Weber teacher, labelled frames, tools."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from aiida_mlipgen.science.teacher import stillinger_weber_silicon as stillinger_weber

#: One thread per job or training: the tests share two cores.
ONE_THREAD = 'export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1'


def venv_tool(name: str) -> str:
    """Absolute path of a console script of the running Python environment (nequip-train, mlipgen-explore, ...)."""
    path = Path(sys.executable).parent / name
    if not path.is_file():
        pytest.fail(f'`{name}` is not installed beside {sys.executable}: run `make install`')
    return str(path)


def si_frames(count: int, seed: int = 0, label: bool = True) -> list[Atoms]:
    """Rattled, strained diamond Si cells of 8 and 16 atoms, optionally labelled with SW."""
    rng = np.random.default_rng(seed)
    calculator = stillinger_weber() if label else None
    frames = []
    for index in range(count):
        atoms = bulk('Si', 'diamond', a=5.43, cubic=True)
        if index % 2:
            atoms = atoms.repeat((2, 1, 1))
        atoms.set_cell(atoms.cell * (1 + rng.uniform(-0.03, 0.03)), scale_atoms=True)
        atoms.rattle(0.08, seed=seed * 1000 + index)
        if calculator is not None:
            atoms.calc = calculator
            results = {
                'energy': atoms.get_potential_energy(),
                'forces': atoms.get_forces(),
                'stress': atoms.get_stress(),
            }
            atoms.calc = SinglePointCalculator(atoms, **results)
        frames.append(atoms)
    return frames
