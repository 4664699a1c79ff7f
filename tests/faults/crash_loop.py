"""Run a tiny teacher-labelled loop, SIGKILL the daemon at chosen points, restart it, and summarise the result.

Usage: python crash_loop.py PROFILE OUTPUT_JSON [--kill POINT ...] [--no-daemon] [--workers N]

POINT is ``labelling`` (a teacher job is running), ``training`` (a training job is running) or ``between``
(an iteration has just been closed). Each kill SIGKILLs the daemon's supervisor (circus), its workers and,
on an embedded profile, aiida-core's ZeroMQ broker service, all at once, as a crash would; then
``verdi daemon start`` brings them back. The jobs already on the scheduler are left running (a crashed
daemon does not take the cluster down with it). With ``--no-daemon`` the loop is run in this process
(aiida-core's ``run``): the uninterrupted reference.

AIIDA_PATH selects the configuration folder. Writes one JSON document to OUTPUT_JSON (see :func:`summary`);
exits 0 once the loop is terminated, whatever its exit status: the caller judges.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))  # for `tests.`: after PYTHONPATH and the installed package

from aiida import load_profile, orm  # noqa: E402

#: Kill points, in the order a loop reaches them.
KILL_POINTS = ('labelling', 'training', 'between')
#: How long a loop may take, kills and restarts included (s).
TIMEOUT_S = 3600
#: Frame keys that name a node of this run (uuids), not the frame's content.
PROVENANCE_SUFFIX = '_uuid'


def loop_overrides() -> dict:
    """The tests' tiny loop: 2 iterations, 2-member committees of 2 x 8 features, 3 epochs; 2 picks per iteration."""
    from aiida_quantumespresso.workflows.protocols.utils import recursive_merge

    from tests.active_learning.conftest import TINY_OVERRIDES

    tiny = {key: value for key, value in TINY_OVERRIDES.items() if key != 'label'}
    return recursive_merge(
        tiny,
        {
            'trust_levels': {'force_trust_lo': 0.02, 'force_trust_hi': 5.0},
            'exploration_schedule': [{'temperatures_K': [600]}],
            'exploration_test': {'per_condition': 0},
        },
    )


def loop_builder(computer: str = 'localhost'):
    """The loop on the `mlipgen setup` codes of ``computer``, labelled by the Stillinger-Weber teacher."""
    from ase.build import bulk

    from aiida_mlipgen.workflows.active_learning import ActiveLearningWorkChain
    from tests.teacher.conftest import SW_TEACHER

    roles = {
        'teacher': 'mlipgen-teacher-label',
        'train': 'nequip-train',
        'explore': 'mlipgen-explore',
        'evaluate': 'mlipgen-evaluate',
    }
    codes = {role: orm.load_code(f'{label}@{computer}') for role, label in roles.items()}
    seed = {'si8': orm.StructureData(ase=bulk('Si', 'diamond', a=5.43, cubic=True))}
    return ActiveLearningWorkChain.get_builder_from_protocol(
        codes, seed, protocol='fast', overrides=loop_overrides(), teacher=SW_TEACHER
    )


# -- the daemon ------------------------------------------------------------------------------------


def daemon_processes(profile_name: str) -> list[int]:
    """PIDs of the daemon's supervisor and of its children (workers, ZeroMQ broker service); [] if none."""
    import psutil
    from aiida.engine.daemon.client import get_daemon_client

    client = get_daemon_client(profile_name)
    pid = client.get_daemon_pid()
    if pid is None or not psutil.pid_exists(pid):
        return []
    supervisor = psutil.Process(pid)
    return [pid, *(child.pid for child in supervisor.children(recursive=False))]


def job_processes(workdir: str) -> list[int]:
    """PIDs of job scripts running under the computer's work directory (the jobs of core.direct)."""
    import psutil

    pids = []
    for process in psutil.process_iter(['pid', 'cwd', 'cmdline']):
        try:
            if (process.info['cwd'] or '').startswith(workdir) and 'bash' in ' '.join(process.info['cmdline'] or []):
                pids.append(process.info['pid'])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return pids


def verdi(profile_name: str, *arguments: str) -> subprocess.CompletedProcess:
    """Run ``verdi -p PROFILE ...`` of this environment."""
    bindir = Path(sys.executable).parent
    env = {**os.environ, 'PATH': f'{bindir}{os.pathsep}{os.environ["PATH"]}'}
    return subprocess.run(
        [str(bindir / 'verdi'), '-p', profile_name, *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def clear_stale_broker_endpoint(profile_name: str) -> list[str]:
    """Remove the file naming the sockets of an embedded broker service that was killed; return what was removed.

    aiida-core's ZeroMQ broker service writes the path of its (new, random) socket folder to
    ``broker.sockets`` when it starts, and removes the file when it stops. A SIGKILL leaves the file
    behind, and ``verdi daemon start`` starts the workers beside the new service: a worker that reads
    the file before the new service has rewritten it connects to the dead service's socket and never
    receives a task (seen twice on a loaded machine: the loop's tasks stayed pending for an hour).
    Without the file a worker waits until the new service has written it. This is the recovery step
    docs/reliability.md gives after a crash of the embedded set-up; profiles with RabbitMQ have no
    such file.
    """
    from aiida.manage.configuration import get_config

    config = get_config()
    profile = config.get_profile(profile_name)
    if profile.process_control_backend != 'core.zeromq':
        return []
    from aiida.brokers.zeromq.service import ZeromqBrokerService

    layout = ZeromqBrokerService.FilepathLayout(config.filepaths(profile)['broker_service']['dir'])
    if not layout.sockets_file.exists():
        return []
    layout.sockets_file.unlink()
    return [str(layout.sockets_file)]


def crash_and_restart(profile_name: str, workers: int) -> dict:
    """SIGKILL every daemon process at once, then start the daemon again; return what was killed."""
    pids = daemon_processes(profile_name)
    if not pids:
        raise RuntimeError(f'no daemon is running for profile {profile_name}')
    for pid in pids:  # the supervisor first, so that it respawns nothing
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    import psutil

    while any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids):
        if time.monotonic() > deadline:
            raise RuntimeError(f'daemon processes {pids} survived SIGKILL')
        time.sleep(0.1)
    cleared = clear_stale_broker_endpoint(profile_name)
    started = verdi(profile_name, 'daemon', 'start', str(workers))
    if started.returncode != 0:
        raise RuntimeError(f'daemon restart failed: {started.stdout} {started.stderr}')
    return {'killed_pids': pids, 'cleared': cleared, 'restarted': daemon_processes(profile_name)}


# -- where the loop is -----------------------------------------------------------------------------


def running_jobs(loop: orm.WorkflowNode, label: str) -> list[orm.CalcJobNode]:
    """The loop's CalcJobs of ``label`` that have a job on the scheduler and have not finished."""
    return [
        node
        for node in loop.called_descendants
        if isinstance(node, orm.CalcJobNode)
        and node.process_label == label
        and not node.is_terminated
        and node.get_job_id() is not None
    ]


def reached(loop: orm.WorkflowNode, point: str) -> list[str]:
    """Non-empty (what is going on) when the loop is at kill point ``point``."""
    if point == 'labelling':
        return [
            f'{node.process_label}<{node.pk}> job {node.get_job_id()}'
            for node in running_jobs(loop, 'TeacherLabelCalculation')
        ]
    if point == 'training':
        return [
            f'{node.process_label}<{node.pk}> job {node.get_job_id()}'
            for node in running_jobs(loop, 'NequipTrainCalculation')
        ]
    if point == 'between':
        closed = orm.QueryBuilder().append(orm.Group, filters={'label': {'like': f'mlipgen/al_{loop.pk}/iteration_%'}})
        return [group.label for group in closed.all(flat=True)]
    raise ValueError(f'unknown kill point {point!r}: one of {", ".join(KILL_POINTS)}')


# -- the summary -----------------------------------------------------------------------------------


def frame_content(atoms) -> dict:
    """A frame without the keys that name this run's nodes: what two equal runs must share, bit for bit."""
    import numpy as np

    content = {
        'numbers': atoms.numbers.tolist(),
        'positions': np.round(atoms.positions, 10).tolist(),
        'cell': np.round(atoms.cell.array, 10).tolist(),
        'pbc': atoms.pbc.tolist(),
        'info': {key: value for key, value in sorted(atoms.info.items()) if not key.endswith(PROVENANCE_SUFFIX)},
    }
    if atoms.calc is not None:
        content['energy'] = round(float(atoms.get_potential_energy()), 10)
        content['forces'] = np.round(atoms.get_forces(), 10).tolist()
        if 'stress' in atoms.calc.results:
            content['stress'] = np.round(atoms.calc.results['stress'], 10).tolist()
    return content


def content_sha256(dataset) -> str:
    """sha256 of a dataset's frames (content only, see :func:`frame_content`)."""
    text = json.dumps([frame_content(atoms) for atoms in dataset.get_atoms()], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def positions_key(atoms) -> str:
    """One frame's identity: species, cell and positions (to 1e-6 A)."""
    import numpy as np

    text = json.dumps(
        [atoms.numbers.tolist(), np.round(atoms.cell.array, 6).tolist(), np.round(atoms.positions, 6).tolist()]
    )
    return hashlib.sha256(text.encode()).hexdigest()


def summary(loop: orm.WorkflowNode, kills: list[dict], wall_s: float) -> dict:
    """What a judge needs: the loop's end, its jobs (with duplicates by content hash) and its datasets."""
    jobs = [node for node in loop.called_descendants if isinstance(node, orm.CalcJobNode)]
    hashes = Counter(node.base.caching.get_hash() for node in jobs)
    teacher_frames = Counter(
        positions_key(atoms)
        for node in jobs
        if node.process_label == 'TeacherLabelCalculation'
        for atoms in node.inputs.frames.get_atoms()
    )
    result = {
        'pk': loop.pk,
        'state': loop.process_state.value if loop.process_state else None,
        'exit_status': loop.exit_status,
        'exit_message': loop.exit_message,
        'wall_s': round(wall_s, 1),
        'kills': kills,
        'jobs': dict(Counter(node.process_label for node in jobs)),
        'failed_jobs': [
            f'{node.process_label}<{node.pk}> {node.exit_status}' for node in jobs if not node.is_finished_ok
        ],
        'rerun_jobs': [f'{node.process_label}<{node.pk}>' for node in jobs if hashes[node.base.caching.get_hash()] > 1],
        'frames_sent_to_teacher': sum(teacher_frames.values()),
        'frames_labelled_twice': sum(count - 1 for count in teacher_frames.values() if count > 1),
        'datasets': {},
    }
    for name in ('training_dataset', 'validation_dataset', 'test_dataset'):
        if name in loop.outputs:
            dataset = loop.outputs[name]
            result['datasets'][name] = {
                'num_frames': dataset.num_frames,
                'sha256': dataset.sha256,
                'content_sha256': content_sha256(dataset),
                'frames': [positions_key(atoms) for atoms in dataset.get_atoms()],
            }
    if 'iterations' in loop.outputs:
        result['iterations'] = [
            {key: row.get(key) for key in ('iteration', 'labelled', 'test_force_rmse_eV_per_A')}
            for row in loop.outputs.iterations['rows']
        ]
    return result


# -- the run ---------------------------------------------------------------------------------------


def run_reference() -> tuple[orm.WorkflowNode, list[dict]]:
    """The loop run in this process, uninterrupted."""
    from aiida.engine import run_get_node

    _, node = run_get_node(loop_builder())
    return node, []


def run_with_kills(profile_name: str, points: list[str], workers: int) -> tuple[orm.WorkflowNode, list[dict]]:
    """Submit the loop to the daemon and crash the daemon once at each of ``points``, in order."""
    from aiida.engine import submit

    loop = submit(loop_builder())
    workdir = orm.load_computer('localhost').get_workdir()
    kills = []
    deadline = time.monotonic() + TIMEOUT_S
    pending = list(points)
    while not loop.is_terminated and time.monotonic() < deadline:
        if pending:
            what = reached(loop, pending[0])
            if what:
                record = {'point': pending.pop(0), 'running': what, 'jobs_alive': len(job_processes(workdir))}
                record.update(crash_and_restart(profile_name, workers))
                kills.append(record)
                print(f'killed the daemon at {record["point"]}: {what}', flush=True)
        time.sleep(0.2)
    if pending:
        kills.append({'point': pending[0], 'missed': True})
    return loop, kills


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('profile')
    parser.add_argument('output', type=Path)
    parser.add_argument('--kill', action='append', default=[], choices=KILL_POINTS)
    parser.add_argument('--no-daemon', action='store_true', help='run the loop in this process, uninterrupted')
    parser.add_argument('--workers', type=int, default=2)
    arguments = parser.parse_args()

    load_profile(arguments.profile)
    start = time.monotonic()
    if arguments.no_daemon:
        loop, kills = run_reference()
    else:
        loop, kills = run_with_kills(arguments.profile, arguments.kill, arguments.workers)
    arguments.output.write_text(json.dumps(summary(loop, kills, time.monotonic() - start), indent=1))
    print(f'{loop.process_label}<{loop.pk}> {loop.process_state.value if loop.process_state else None}', flush=True)


if __name__ == '__main__':
    main()
