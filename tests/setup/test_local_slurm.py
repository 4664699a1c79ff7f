"""The cluster templates against a real SLURM on this machine (``setup_profiles/slurm/local_slurm.sh``).

Skipped where ``local_slurm.sh check`` fails (SLURM not installed, not root): ``make test`` does not
need SLURM. Install it with
``APT_PACKAGES='slurmctld slurmd slurm-client munge libpmix-dev' setup_profiles/install.sh system-packages``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from aiida import orm
from aiida.engine import run_get_node
from aiida.plugins import CalculationFactory

TEMPLATES = Path(__file__).parents[2] / 'setup_profiles' / 'slurm'
LOCAL_SLURM = TEMPLATES / 'local_slurm.sh'
ROOT_MPI = 'export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1'

CHECK = subprocess.run(['bash', str(LOCAL_SLURM), 'check'], capture_output=True, text=True, check=False)
pytestmark = pytest.mark.skipif(CHECK.returncode != 0, reason=f'no local SLURM: {CHECK.stderr.strip()}')


@pytest.fixture(scope='module')
def local_slurm(tmp_path_factory):
    """A running one-machine SLURM; yields its slurm.conf. Short path: munge's socket must fit in 108 bytes."""
    state = tmp_path_factory.mktemp('slurm')
    subprocess.run(['bash', str(LOCAL_SLURM), 'start', str(state)], check=True, capture_output=True, timeout=120)
    try:
        yield state / 'slurm.conf'
    finally:
        subprocess.run(['bash', str(LOCAL_SLURM), 'stop', str(state)], check=False, capture_output=True)


@pytest.fixture
def slurm_computer(aiida_profile, local_slurm, tmp_path, monkeypatch, computer_label):
    """The template's computer, reached through core.local instead of core.ssh."""
    monkeypatch.setenv('SLURM_CONF', str(local_slurm))  # sbatch, squeue run by AiiDA in this process
    template = yaml.safe_load((TEMPLATES / 'computer_setup.yaml').read_text())
    computer = orm.Computer(
        label=computer_label,
        hostname='localhost',
        transport_type='core.local',
        scheduler_type=template['scheduler'],
        workdir=str(tmp_path),
    )
    computer.set_mpirun_command(template['mpirun_command'].split())
    computer.set_prepend_text(template['prepend_text'])
    computer.store()
    computer.set_minimum_job_poll_interval(1)
    computer.configure(safe_interval=0)
    return computer


def options_for(name: str, partition: str, **resources) -> dict:
    """A template's job options with the local partition, no account, resources this machine has."""
    options = yaml.safe_load((TEMPLATES / name).read_text())
    options.pop('account')
    options['queue_name'] = partition
    options['resources'].update(resources)
    options['max_wallclock_seconds'] = 600
    return options


def test_pw_runs_through_srun_on_the_cpu_partition(slurm_computer, pseudo_family):
    from ase.build import bulk

    code = orm.InstalledCode(
        computer=slurm_computer,
        filepath_executable=shutil.which('pw.x'),
        label='pw',
        default_calc_job_plugin='quantumespresso.pw',
        with_mpi=True,
        prepend_text=ROOT_MPI,
    ).store()
    structure = orm.StructureData(ase=bulk('Si', 'diamond', a=5.43))
    kpoints = orm.KpointsData()
    kpoints.set_kpoints_mesh([1, 1, 1])
    builder = CalculationFactory('quantumespresso.pw').get_builder()
    builder.code = code
    builder.structure = structure
    builder.kpoints = kpoints
    builder.pseudos = pseudo_family.get_pseudos(structure=structure)
    builder.parameters = orm.Dict({'CONTROL': {'calculation': 'scf'}, 'SYSTEM': {'ecutwfc': 15.0}})
    builder.metadata.options = options_for('options_cpu.yaml', 'cpu', num_mpiprocs_per_machine=1)

    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    script = node.base.repository.get_object_content('_aiidasubmit.sh')
    assert '#SBATCH --partition=cpu' in script
    assert "'srun' '-n' '1'" in script
    assert results['output_parameters']['energy'] < 0


def test_gpu_options_get_a_gpu_from_slurm(slurm_computer):
    """``--gres=gpu:1`` from custom_scheduler_commands reaches SLURM: the job sees CUDA_VISIBLE_DEVICES."""
    code = orm.InstalledCode(
        computer=slurm_computer,
        filepath_executable='/bin/bash',
        label='bash',
        default_calc_job_plugin='core.arithmetic.add',
        prepend_text='echo "$CUDA_VISIBLE_DEVICES" > gpus.txt',
    ).store()
    builder = code.get_builder()
    builder.x, builder.y = orm.Int(2), orm.Int(3)
    builder.metadata.options = {
        **options_for('options_gpu.yaml', 'gpu', num_cores_per_mpiproc=1),
        'additional_retrieve_list': ['gpus.txt'],
    }

    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    assert results['sum'].value == 5
    assert node.outputs.retrieved.base.repository.get_object_content('gpus.txt').strip() == '0'
