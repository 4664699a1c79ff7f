"""The local computer and its codes: created once, reused after, repaired or refused when they differ."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.engine import run_get_node
from aiida.plugins import CalculationFactory

from aiida_mlipgen.setup.codes import LOCAL_CODES, get_or_create_code
from aiida_mlipgen.setup.computer import PREPEND_LINES, get_or_create_localhost


@pytest.fixture
def localhost(aiida_profile, tmp_path, computer_label):
    """A fresh local computer made by the set-up function, working in ``tmp_path``."""
    computer, status = get_or_create_localhost(computer_label, workdir=tmp_path)
    assert status == 'created'
    return computer


def test_localhost_is_created_once_then_reused(localhost, tmp_path):
    assert (localhost.transport_type, localhost.scheduler_type) == ('core.local', 'core.direct')
    assert localhost.get_prepend_text().splitlines() == list(PREPEND_LINES)
    assert localhost.get_mpirun_command() == ['mpirun', '-np', '{tot_num_mpiprocs}']
    assert localhost.get_workdir() == str(tmp_path)
    assert localhost.is_user_configured(orm.User.collection.get_default())

    again, status = get_or_create_localhost(localhost.label)
    assert (again.pk, status) == (localhost.pk, 'exists')


def test_existing_local_computer_gets_the_missing_prepend_lines(aiida_profile, tmp_path, computer_label):
    label = computer_label
    presto_like = orm.Computer(
        label=label,
        hostname='localhost',
        transport_type='core.local',
        scheduler_type='core.direct',
        workdir=str(tmp_path),
    ).store()
    presto_like.set_prepend_text('module load something')  # the user's own line is kept, first

    computer, status = get_or_create_localhost(label)
    assert computer.pk == presto_like.pk
    assert status == 'updated (prepend_text, configured for this user)'
    assert computer.get_prepend_text().splitlines() == ['module load something', *PREPEND_LINES]
    assert get_or_create_localhost(label)[1] == 'exists'


def test_existing_computer_with_another_transport_is_refused(remote_computer):
    label = remote_computer.label
    with pytest.raises(ValueError, match=f'computer {label} exists with transport core.ssh and scheduler core.slurm'):
        get_or_create_localhost(label)


def test_code_is_created_once_then_reused(localhost):
    code, status = get_or_create_code('pw', '/usr/bin/pw.x', 'quantumespresso.pw', localhost)
    assert status == 'created'
    assert (code.full_label, str(code.filepath_executable)) == (f'pw@{localhost.label}', '/usr/bin/pw.x')
    assert code.default_calc_job_plugin == 'quantumespresso.pw'

    again, status = get_or_create_code('pw', '/usr/bin/pw.x', 'quantumespresso.pw', localhost)
    assert (again.pk, status) == (code.pk, 'exists')


def test_existing_code_with_its_own_executable_is_kept(localhost):
    own, _ = get_or_create_code('pw', '/bin/true', 'quantumespresso.pw', localhost)
    code, status = get_or_create_code('pw', '/usr/bin/pw.x', 'quantumespresso.pw', localhost)
    assert (code.pk, status) == (own.pk, 'exists (runs /bin/true)')


def test_existing_code_with_another_plugin_is_refused(localhost):
    get_or_create_code('pw', '/usr/bin/pw.x', 'quantumespresso.pw', localhost)
    with pytest.raises(ValueError, match=f'code pw@{localhost.label} exists with plugin quantumespresso.pw'):
        get_or_create_code('pw', '/usr/bin/pw.x', 'lammps.base', localhost)


def test_missing_executable_is_refused_with_the_install_hint(localhost):
    with pytest.raises(FileNotFoundError, match=r'does not exist on the computer.*\(apt-get install x\)'):
        get_or_create_code('ghost', '/usr/bin/no-such-program', 'quantumespresso.pw', localhost, 'apt-get install x')
    assert orm.QueryBuilder().append(orm.InstalledCode, filters={'label': 'ghost'}).count() == 0


@pytest.mark.parametrize('spec', LOCAL_CODES, ids=lambda spec: spec.label)
def test_local_code_table_names_real_plugins_and_executables(localhost, spec):
    assert CalculationFactory(spec.plugin)
    code, status = get_or_create_code(spec.label, spec.executable, spec.plugin, localhost, spec.hint)
    assert status == 'created'


def test_pw_runs_through_mpirun_on_the_set_up_computer(localhost, pseudo_family):
    """The real pw.x under ``mpirun -np 1``: as root this fails (exit 305) without the prepend lines."""
    from ase.build import bulk

    code, _ = get_or_create_code('pw', '/usr/bin/pw.x', 'quantumespresso.pw', localhost)
    structure = orm.StructureData(ase=bulk('Si', 'diamond', a=5.43))
    kpoints = orm.KpointsData()
    kpoints.set_kpoints_mesh([1, 1, 1])
    builder = CalculationFactory('quantumespresso.pw').get_builder()
    builder.code = code
    builder.structure = structure
    builder.kpoints = kpoints
    builder.pseudos = pseudo_family.get_pseudos(structure=structure)
    builder.parameters = orm.Dict({'CONTROL': {'calculation': 'scf'}, 'SYSTEM': {'ecutwfc': 15.0}})
    builder.metadata.options = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}, 'withmpi': True}
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    assert "'mpirun' '-np' '1'" in node.base.repository.get_object_content('_aiidasubmit.sh')
    assert results['output_parameters']['energy'] < 0
