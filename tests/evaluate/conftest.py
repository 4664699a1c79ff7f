"""Fixtures of the committee-evaluation tests: the real ``mlipgen-evaluate`` code, a tiny real committee, dumps.

The committee is the session plugin ``tests.nequip_committee`` (two tiny NequIP models trained once
with the real ``nequip-train``), shared by every test directory.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from aiida import orm
from aiida.common.links import LinkType

from tests.silicon import si_frames, venv_tool  # noqa: F401  (si_frames: used by the test modules)

#: Debian's Stillinger-Weber silicon for LAMMPS.
SW_POTENTIAL = Path('/usr/share/lammps/potentials/Si.sw')
#: 64-atom diamond Si at 900 K, positions every 10 steps of 100: 11 frames, the first the perfect crystal.
SW_DUMP_INPUT = """\
units metal
atom_style atomic
lattice diamond 5.431
region box block 0 2 0 2 0 2
create_box 1 box
create_atoms 1 box
mass 1 28.0855
pair_style sw
pair_coeff * * {potential} Si
velocity all create 900 7 dist gaussian mom yes
fix md all nvt temp 900 900 0.1
dump frames all custom 10 trajectory.lammpstrj id type x y z
dump_modify frames sort id format float %.17g
run 100
"""
SW_DUMP_FRAMES = 11


@pytest.fixture
def evaluate_code(aiida_code_installed):
    """The real ``mlipgen-evaluate`` as an InstalledCode of the test localhost (one thread)."""
    return aiida_code_installed(
        label='mlipgen-evaluate',
        default_calc_job_plugin='mlipgen.evaluate',
        filepath_executable=venv_tool('mlipgen-evaluate'),
        prepend_text='export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1',
    )


@pytest.fixture
def committee_models(aiida_profile, tiny_committee):
    """The tiny committee as stored ``ModelData`` nodes, keyed ``member1``, ``member2``."""
    from aiida_mlipgen.data.model import ModelData

    return {
        f'member{index}': ModelData(path, cutoff=4.0, species=['Si']).store()
        for index, path in enumerate(tiny_committee.packages, start=1)
    }


@pytest.fixture
def labelled_test_set(aiida_profile):
    """Six rattled, strained Si cells (8 and 16 atoms) labelled with Stillinger-Weber: a held-out test set."""
    from aiida_mlipgen.data.dataset import DatasetData

    return DatasetData(si_frames(6, seed=5)).store()


@pytest.fixture(scope='session')
def sw_dump(tmp_path_factory) -> Path:
    """A real LAMMPS dump (``id type x y z``) of Stillinger-Weber Si MD, from Debian's ``lmp``."""
    executable = shutil.which('lmp')
    if executable is None:
        pytest.fail('`lmp` is not on PATH: run `make install` first')
    if not SW_POTENTIAL.is_file():
        pytest.fail(f'{SW_POTENTIAL} is missing: install the Debian `lammps-data` package')
    folder = tmp_path_factory.mktemp('sw_dump')
    (folder / 'in.si').write_text(SW_DUMP_INPUT.format(potential=SW_POTENTIAL))
    subprocess.run([executable, '-in', 'in.si', '-log', 'none', '-screen', 'none'], cwd=folder, check=True, timeout=120)
    return folder / 'trajectory.lammpstrj'


@pytest.fixture
def evaluate_node(aiida_localhost, tmp_path) -> Callable:
    """Factory of a stored ``mlipgen.evaluate`` CalcJobNode with given inputs and retrieved files, for the parser.

    ``retrieved`` maps names to the text of files in the retrieved folder; ``temporary`` to files of the
    retrieved-temporary folder. Returns ``(node, temporary_folder)``.
    """

    def factory(inputs: dict, retrieved: dict[str, str], temporary: dict[str, str]):
        node = orm.CalcJobNode(computer=aiida_localhost, process_type='aiida.calculations:mlipgen.evaluate')
        node.set_option('resources', {'num_machines': 1, 'num_mpiprocs_per_machine': 1})
        for label, value in inputs.items():
            if isinstance(value, dict):
                for key, item in value.items():
                    node.base.links.add_incoming(item.store(), LinkType.INPUT_CALC, f'{label}__{key}')
            else:
                node.base.links.add_incoming(value.store(), LinkType.INPUT_CALC, label)
        node.store()
        folder = orm.FolderData()
        for name, text in retrieved.items():
            folder.base.repository.put_object_from_bytes(text.encode('utf-8'), name)
        folder.base.links.add_incoming(node, LinkType.CREATE, 'retrieved')
        folder.store()
        temporary_folder = tmp_path / f'temporary_{node.pk}'
        temporary_folder.mkdir()
        for name, text in temporary.items():
            (temporary_folder / name).write_text(text)
        return node, temporary_folder

    return factory
