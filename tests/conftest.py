"""Fixtures shared by every test: aiida-core's profile fixtures, real codes, tiny silicon cells."""

from __future__ import annotations

import shutil

import pytest
from ase.build import bulk

from aiida_mlipgen.setup.computer import PREPEND_LINES

pytest_plugins = ['aiida.tools.pytest_fixtures', 'tests.nequip_committee']

#: What the localhost computer of `mlipgen setup` prepends: MPI as root, one thread per rank.
MPI_PREPEND = '\n'.join(PREPEND_LINES)


def require_executable(name: str) -> str:
    """Path of ``name`` on PATH, failing loudly (never skipping) when the set-up did not install it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f'`{name}` is not on PATH: run `make install` first')
    return path


@pytest.fixture
def pw_code(aiida_code_installed):
    """The real Quantum ESPRESSO ``pw.x`` as an AiiDA code on the test localhost."""
    return aiida_code_installed(
        label='pw',
        default_calc_job_plugin='quantumespresso.pw',
        filepath_executable=require_executable('pw.x'),
        prepend_text=MPI_PREPEND,
    )


@pytest.fixture
def pseudo_family(aiida_profile):
    """The Debian PBE pseudo family that `mlipgen setup` installs."""
    from aiida_mlipgen.setup.pseudo_family import get_or_create_pseudo_family

    return get_or_create_pseudo_family()


@pytest.fixture
def silicon_primitive():
    """Two-atom diamond silicon, a = 5.43 A."""
    return bulk('Si', 'diamond', a=5.43)
