"""Jobs through AiiDA's ``core.slurm`` on a real SLURM of one machine (``setup_profiles/slurm/local_slurm.sh``).

``make install`` installs Debian's slurmctld, slurmd, slurm-client, munge and libpmix-dev; the tests
start munged, slurmctld and slurmd once per module (as root, state in a temporary folder) and stop
them afterwards. Without SLURM or root they fail, they do not skip. The computer and job options are
the cluster templates of ``setup_profiles/slurm/``, with the transport swapped for ``core.local``.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml
from aiida import orm
from aiida.engine import run_get_node
from aiida.plugins import CalculationFactory

from tests.silicon import ONE_THREAD, venv_tool

TEMPLATES = Path(__file__).parents[2] / 'setup_profiles' / 'slurm'
LOCAL_SLURM = TEMPLATES / 'local_slurm.sh'
ROOT_MPI = 'export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1'
#: SLURM counts time limits in whole minutes: the shortest walltime a job can have.
SHORTEST_WALLTIME_S = 60


@pytest.fixture(scope='module')
def local_slurm(tmp_path_factory):
    """A running one-machine SLURM; yields its slurm.conf. Short path: munge's socket must fit in 108 bytes."""
    check = subprocess.run(['bash', str(LOCAL_SLURM), 'check'], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        pytest.fail(f'no local SLURM ({check.stderr.strip()}): run `make install` as root')
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


@pytest.fixture
def slurm_pw_code(slurm_computer):
    """pw.x on the SLURM computer, started through srun."""
    return orm.InstalledCode(
        computer=slurm_computer,
        filepath_executable=shutil.which('pw.x'),
        label='pw',
        default_calc_job_plugin='quantumespresso.pw',
        with_mpi=True,
        prepend_text=f'{ROOT_MPI}\n{ONE_THREAD}',
    ).store()


def options_for(name: str, partition: str, **resources) -> dict:
    """A template's job options with the local partition, no account, resources this machine has."""
    options = yaml.safe_load((TEMPLATES / name).read_text())
    options.pop('account')
    options['queue_name'] = partition
    options['resources'].update(resources)
    options['max_wallclock_seconds'] = 600
    return options


def submit_script(node: orm.CalcJobNode) -> str:
    return node.base.repository.get_object_content('_aiidasubmit.sh')


class QueueWatcher(threading.Thread):
    """Samples ``squeue`` for this SLURM's jobs in the background; remembers the most seen at once."""

    def __init__(self, slurm_conf: Path, interval_s: float = 0.25, on_new_job=None):
        """:param on_new_job: called with (watcher, job id, how many jobs were seen before) for each new job."""
        super().__init__(daemon=True)
        self.environment = {'SLURM_CONF': str(slurm_conf), 'PATH': '/usr/bin:/bin'}
        self.interval_s = interval_s
        self.on_new_job = on_new_job
        self.most = 0
        self.seen: list[str] = []
        self._done = threading.Event()

    def jobs(self) -> list[str]:
        result = subprocess.run(
            ['squeue', '-h', '-o', '%i'], env=self.environment, capture_output=True, text=True, check=False
        )
        return result.stdout.split()

    def run(self) -> None:
        while not self._done.is_set():
            jobs = self.jobs()
            self.most = max(self.most, len(jobs))
            for job in jobs:
                if job not in self.seen:
                    if self.on_new_job is not None:
                        self.on_new_job(self, job, len(self.seen))
                    self.seen.append(job)
            self._done.wait(self.interval_s)

    def scontrol(self, *arguments: str) -> None:
        subprocess.run(['scontrol', *arguments], env=self.environment, check=True, capture_output=True)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=10)


def test_slurm_runs_pw_through_srun_on_the_cpu_partition(slurm_pw_code, pseudo_family):
    from ase.build import bulk

    structure = orm.StructureData(ase=bulk('Si', 'diamond', a=5.43))
    kpoints = orm.KpointsData()
    kpoints.set_kpoints_mesh([1, 1, 1])
    builder = CalculationFactory('quantumespresso.pw').get_builder()
    builder.code = slurm_pw_code
    builder.structure = structure
    builder.kpoints = kpoints
    builder.pseudos = pseudo_family.get_pseudos(structure=structure)
    builder.parameters = orm.Dict({'CONTROL': {'calculation': 'scf'}, 'SYSTEM': {'ecutwfc': 15.0}})
    builder.metadata.options = options_for('options_cpu.yaml', 'cpu', num_mpiprocs_per_machine=1)

    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    script = submit_script(node)
    assert '#SBATCH --partition=cpu' in script
    assert "'srun' '-n' '1'" in script
    assert results['output_parameters']['energy'] < 0


def test_slurm_gpu_options_get_a_gpu(slurm_computer):
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
    script = submit_script(node)
    assert '#SBATCH --gres=gpu:1' in script
    assert '#SBATCH --partition=gpu' in script


def test_slurm_labelling_keeps_to_its_cap_of_concurrent_jobs(slurm_pw_code, pseudo_family, local_slurm):
    """Four frames, at most two jobs in the computer's queue at any time: sbatch, poll, retrieve, parse."""
    from ase.build import bulk

    from aiida_mlipgen.workflows.labelling import LabellingWorkChain

    structures = {}
    for seed in range(4):
        atoms = bulk('Si', 'diamond', a=5.43)
        atoms.rattle(0.05, seed=seed)
        structures[f'si2_{seed}'] = orm.StructureData(ase=atoms)
    builder = LabellingWorkChain.get_builder_from_protocol(
        slurm_pw_code,
        structures,
        protocol='fast',
        overrides={
            'max_concurrent': 2,
            'pw': {'kpoints_distance': 0.6, 'pw': {'parameters': {'SYSTEM': {'ecutwfc': 16.0, 'ecutrho': 64.0}}}},
        },
        options=options_for('options_cpu.yaml', 'cpu', num_mpiprocs_per_machine=1),
    )

    watcher = QueueWatcher(local_slurm)
    watcher.start()
    try:
        results, node = run_get_node(builder)
    finally:
        watcher.stop()
    assert node.is_finished_ok, node.exit_message
    assert results['dataset'].num_frames == 4
    jobs = [job for job in node.called_descendants if isinstance(job, orm.CalcJobNode)]
    assert len(jobs) == 4 and all(job.is_finished_ok for job in jobs)
    assert {job.get_job_id() for job in jobs} <= set(watcher.seen)  # each one went through SLURM's queue
    assert watcher.most == 2  # the cap, reached and never passed


@pytest.fixture
def slow_first_training_code(slurm_computer, tmp_path):
    """``nequip-train`` that, unless resuming (``++ckpt_path=``), trains one epoch and then hangs.

    A stand-in for a training slower than its walltime, independent of this machine's speed: the
    first job checkpoints its first epoch, then waits until SLURM kills it at its time limit; the
    resumed job trains the remaining epochs as usual.
    """
    wrapper = tmp_path / 'bin' / 'nequip-train'
    wrapper.parent.mkdir()
    wrapper.write_text(
        '#!/bin/bash\n'
        'case " $* " in\n'
        f'    *" ++ckpt_path="*) exec {venv_tool("nequip-train")} "$@" ;;\n'
        'esac\n'
        f'{venv_tool("nequip-train")} "$@" max_epochs=1\n'
        'sleep 600\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    for name in ('nequip-package', 'nequip-compile'):
        (wrapper.parent / name).symlink_to(venv_tool(name))
    return orm.InstalledCode(
        computer=slurm_computer,
        filepath_executable=str(wrapper),
        label='nequip-train',
        default_calc_job_plugin='mlipgen.nequip.train',
        prepend_text=ONE_THREAD,
    ).store()


def give_later_jobs_ten_minutes(watcher: QueueWatcher, job_id: str, jobs_before: int) -> None:
    """Raise the time limit of every job after the first, as an administrator may.

    The resumed training must not depend on this machine's load to finish within the one minute
    that killed the first job: SLURM's limits are whole minutes.
    """
    if jobs_before:
        watcher.scontrol('update', f'JobId={job_id}', 'TimeLimit=10')


@pytest.mark.slow
def test_slurm_training_on_a_gpu_killed_at_its_walltime_is_resumed(slow_first_training_code, local_slurm):
    from aiida_mlipgen.data.dataset import DatasetData
    from aiida_mlipgen.science.teacher import sw_silicon_frames
    from aiida_mlipgen.workflows.nequip_train_base import NequipTrainBaseWorkChain
    from tests.setup.daemon_jobs import TINY_MODEL

    builder = NequipTrainBaseWorkChain.get_builder_from_protocol(
        slow_first_training_code,
        DatasetData(sw_silicon_frames(10, seed=0)),
        DatasetData(sw_silicon_frames(4, seed=1)),
        protocol='fast',
        overrides={'nequip': {'hyperparameters': TINY_MODEL}},
    )
    builder.nequip.metadata.options = {
        **options_for('options_gpu.yaml', 'gpu', num_cores_per_mpiproc=1),
        'max_wallclock_seconds': SHORTEST_WALLTIME_S,
    }

    start = time.monotonic()
    watcher = QueueWatcher(local_slurm, on_new_job=give_later_jobs_ten_minutes)
    watcher.start()
    try:
        results, node = run_get_node(builder)
    finally:
        watcher.stop()
    assert node.is_finished_ok, node.exit_message
    first, second = sorted(node.called, key=lambda call: call.ctime)
    assert first.exit_status == first.process_class.exit_codes.ERROR_OUT_OF_WALLTIME.status, first.exit_message
    stderr = first.outputs.retrieved.base.repository.get_object_content('_scheduler-stderr.txt')
    assert 'DUE TO TIME LIMIT' in stderr
    assert time.monotonic() - start > SHORTEST_WALLTIME_S  # it was SLURM's limit, not an early failure
    assert second.inputs.checkpoint.uuid == first.outputs.checkpoint.uuid  # resumed, not started afresh
    assert second.is_finished_ok and results['model'].species == ['Si']
    last_epochs = [job.outputs.learning_curve.get_array('epoch')[-1] for job in (first, second)]
    assert last_epochs[0] < last_epochs[1]  # the resumed job went on training
    for job in (first, second):
        script = submit_script(job)
        assert '#SBATCH --gres=gpu:1' in script
        assert '#SBATCH --partition=gpu' in script
        assert '#SBATCH --time=00:01:00' in script
