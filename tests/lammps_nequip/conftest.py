"""Fixtures of the LAMMPS + committee tests: Debian's ``lmp`` as a ``lammps.raw`` code, the evaluation fixtures.

The ``mlipgen-evaluate`` code and the committee nodes come from the evaluation tests' fixtures (imported).
"""

from __future__ import annotations

import shutil

import pytest
from aiida import orm
from ase.build import bulk

from tests.evaluate.conftest import (  # noqa: F401  (fixtures)
    SW_POTENTIAL,
    committee_models,
    evaluate_code,
)


@pytest.fixture
def lammps_raw_code(aiida_code_installed):
    """The real Debian LAMMPS as a ``lammps.raw`` code (one OpenMP thread); it has no pair_nequip_allegro."""
    executable = shutil.which('lmp')
    if executable is None:
        pytest.fail('`lmp` is not on PATH: run `make install` first')
    return aiida_code_installed(
        label='lmp-raw',
        default_calc_job_plugin='lammps.raw',
        filepath_executable=executable,
        prepend_text='export OMP_NUM_THREADS=1',
    )


@pytest.fixture
def si64(aiida_profile):
    """64-atom diamond silicon (2x2x2 conventional cells, a = 5.431 A)."""
    return orm.StructureData(ase=bulk('Si', 'diamond', a=5.431, cubic=True) * (2, 2, 2)).store()


@pytest.fixture
def deployed_model(tmp_path, aiida_profile):
    """A file with the name of an AOTInductor model for pair_nequip.

    Its content is never read in these tests: Debian's LAMMPS stops at `pair_style nequip`, and the
    stand-in run uses Stillinger-Weber. Compiling a real one takes minutes and needs a LAMMPS built with
    pair_nequip_allegro to be of any use.
    """
    path = tmp_path / 'si.nequip.pt2'
    path.write_bytes(b'not read by these tests')
    return orm.SinglefileData(path).store()
