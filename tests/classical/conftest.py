"""Fixtures of the classical-sampling tests: the real Debian `lmp`, the Stillinger-Weber Si potential."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from aiida import orm
from ase.build import bulk

#: Where Debian's lammps-data package installs the potential files.
POTENTIALS = Path('/usr/share/lammps/potentials')


@pytest.fixture
def lammps_code(aiida_code_installed):
    """The real LAMMPS executable as a `lammps.base` code on the test localhost (one OpenMP thread)."""
    executable = shutil.which('lmp')
    if executable is None:
        pytest.fail('`lmp` is not on PATH: run `make install` first')
    return aiida_code_installed(
        label='lmp',
        default_calc_job_plugin='lammps.base',
        filepath_executable=executable,
        prepend_text='export OMP_NUM_THREADS=1',
    )


@pytest.fixture
def potentials_directory() -> Path:
    """Debian's directory of LAMMPS potential files."""
    return POTENTIALS


@pytest.fixture
def silicon_sw(aiida_profile):
    """Stillinger-Weber silicon, `Si.sw`, as a stored LammpsPotentialData."""
    from aiida_mlipgen.workflows.classical_sampling_inputs import lammps_potential

    path = POTENTIALS / 'Si.sw'
    if not path.is_file():
        pytest.fail(f'{path} is missing: install the Debian `lammps-data` package')
    return lammps_potential(path, 'sw', ['Si']).store()


@pytest.fixture
def si64():
    """64-atom diamond silicon (2x2x2 conventional cells, a = 5.43 A) as StructureData."""
    return orm.StructureData(ase=bulk('Si', 'diamond', a=5.43, cubic=True) * (2, 2, 2))


@pytest.fixture
def si16_primitive():
    """16-atom silicon in a 2x2x2 primitive (rhombohedral) cell: aiida-lammps must rotate it."""
    return orm.StructureData(ase=bulk('Si', 'diamond', a=5.43) * (2, 2, 2))
