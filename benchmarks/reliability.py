"""The reliability campaign: DFT faults, daemon crashes and malformed inputs; what was injected, what survived.

Three parts, all with the real codes and services of this machine:

- DFT faults: the real ``LabellingWorkChain`` labels 2-atom Si cells through ``tests/faults/faulty_pw.py``,
  which makes the real pw.x fail chosen frames (SCF not converged, walltime, a crash, an SCF that says it
  converged when it did not), once or every time (``tests/faults/dft_campaign.py``).
- Daemon crashes: a tiny teacher-labelled loop runs under the daemon of each set-up (``production``:
  PostgreSQL + RabbitMQ; ``embedded``: SQLite + aiida-core's ZeroMQ broker), made by ``mlipgen setup``;
  ``tests/faults/crash_loop.py`` SIGKILLs every daemon process while a labelling job runs, while a
  training job runs and when an iteration has just closed, and restarts the daemon. The same loop runs
  uninterrupted in this process meanwhile, as the reference.
- Malformed inputs: the cases of ``tests/reliability/refusal_cases.py``, each of which must be refused before
  anything runs, in one line that names the problem.

Usage (from the repository root, the venv's python)::

    python benchmarks/reliability.py [--setups production embedded] [--no-daemon-crashes] [--workdir DIR]

It prints every injection and its fate, and ends with exactly one line::

    frames lost L, labelled twice D, faults survived S/N, malformed inputs rejected R/M
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.append(str(REPO))  # `tests.faults`, after the installed package

from loop_runner import local_codes, temporary_profile  # noqa: E402

BIN = Path(sys.executable).parent
CRASH_LOOP = REPO / 'tests' / 'faults' / 'crash_loop.py'
KILL_POINTS = ('labelling', 'training', 'between')
WORKERS = 2
LOOP_TIMEOUT_S = 4000


def machine() -> str:
    """Cores, load average and platform, for the figures' record."""
    load = ', '.join(f'{value:.1f}' for value in os.getloadavg())
    return f'{os.cpu_count()} cores, load average {load}, {platform.platform()}, Python {platform.python_version()}'


def environment(aiida_path: Path) -> dict:
    """This environment's tools first on PATH, configuration in ``aiida_path``."""
    return {**os.environ, 'AIIDA_PATH': str(aiida_path), 'PATH': f'{BIN}{os.pathsep}{os.environ["PATH"]}'}


# -- daemon crashes ------------------------------------------------------------------------------


class Setups:
    """Profiles made by ``mlipgen setup`` for the daemon-crash runs; :meth:`close` removes what they created."""

    def __init__(self, workdir: Path, names: list[str]) -> None:
        self.token = secrets.token_hex(4)
        self.profiles = {}
        self.database = self.vhost = None
        for name in names:
            aiida_path = workdir / f'crash-{name}'
            profile = f'crash-{name}-{self.token}'
            options = []
            if name == 'production':
                self.database, self.vhost = f'mlipgen_crash_{self.token}', f'mlipgen-crash-{self.token}'
                rabbitmqctl('add_vhost', self.vhost)
                rabbitmqctl('set_permissions', '-p', self.vhost, 'guest', '.*', '.*', '.*')
                options = ['--production', '--db-name', self.database, '--broker-vhost', self.vhost]
            self.profiles[name] = (aiida_path, profile)
            command = [str(BIN / 'mlipgen'), 'setup', '--profile', profile, '--workers', str(WORKERS), *options]
            result = subprocess.run(command, env=environment(aiida_path), capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise RuntimeError(f'mlipgen setup of {name} failed: {result.stdout} {result.stderr}')

    def close(self) -> None:
        for aiida_path, profile in self.profiles.values():
            subprocess.run(
                [str(BIN / 'verdi'), '-p', profile, 'daemon', 'stop'],
                env=environment(aiida_path),
                capture_output=True,
                check=False,
            )
        if self.database is not None:
            from aiida_mlipgen.setup.production import PostgresServer, drop_database

            drop_database(PostgresServer(), self.database, self.database)
            rabbitmqctl('delete_vhost', self.vhost)


def rabbitmqctl(*arguments: str) -> None:
    subprocess.run([shutil.which('rabbitmqctl') or 'rabbitmqctl', *arguments], check=True, capture_output=True)


def start_crash_runs(setups: Setups, workdir: Path) -> dict:
    """Start ``crash_loop.py`` on every set-up; return the running drivers by set-up name."""
    kills = [argument for point in KILL_POINTS for argument in ('--kill', point)]
    drivers = {}
    for name, (aiida_path, profile) in setups.profiles.items():
        output = workdir / f'crash-{name}.json'
        command = [str(BIN / 'python'), str(CRASH_LOOP), profile, str(output), *kills, '--workers', str(WORKERS)]
        log = (workdir / f'crash-{name}.log').open('w')
        process = subprocess.Popen(command, env=environment(aiida_path), stdout=log, stderr=subprocess.STDOUT)
        drivers[name] = (process, output)
    return drivers


def judge_crash_run(name: str, run: dict, reference: dict) -> dict:
    """Frames lost or doubled, jobs rerun and kills survived by one crashed run, against the reference."""
    reference_frames = {frame for dataset in reference['datasets'].values() for frame in dataset['frames']}
    run_frames = {frame for dataset in run.get('datasets', {}).values() for frame in dataset['frames']}
    lost = len(reference_frames - run_frames)
    same = all(
        run.get('datasets', {}).get(key, {}).get('content_sha256') == dataset['content_sha256']
        for key, dataset in reference['datasets'].items()
    )
    kills = [kill for kill in run.get('kills', []) if not kill.get('missed')]
    ok = run.get('exit_status') == 0 and same and not run.get('rerun_jobs') and not run.get('frames_labelled_twice')
    print(f'daemon crashes, {name}: loop {run.get("state")} [{run.get("exit_status")}] in {run.get("wall_s")} s')
    for kill in run.get('kills', []):
        what = 'MISSED' if kill.get('missed') else f'{", ".join(kill["running"])}; jobs alive {kill["jobs_alive"]}'
        print(f'  injected: SIGKILL of the whole daemon at {kill["point"]}: {what}')
    print(
        f'  survived: {"yes" if ok else "NO"}: datasets equal to the uninterrupted run: {same}; jobs rerun: '
        f'{len(run.get("rerun_jobs", []))}; frames labelled twice: {run.get("frames_labelled_twice")}; jobs '
        f'{run.get("jobs")} (reference {reference["jobs"]})'
    )
    return {
        'lost': lost,
        'twice': run.get('frames_labelled_twice', 0) or 0,
        'faults': len(KILL_POINTS),
        'survived': len(kills) if ok else 0,
    }


# -- DFT faults ----------------------------------------------------------------------------------


def dft_faults(workdir: Path) -> dict:
    """Label the campaign's frames through the fault-injecting pw.x (in the loaded profile)."""
    from aiida.engine import run_get_node

    from aiida_mlipgen.setup.computer import get_or_create_localhost
    from aiida_mlipgen.setup.pseudo_family import get_or_create_pseudo_family
    from tests.faults import dft_campaign as campaign

    workdir.mkdir(parents=True, exist_ok=True)
    get_or_create_pseudo_family()
    computer, _ = get_or_create_localhost(workdir=workdir / 'work')
    structures = campaign.plan_structures()
    plan = campaign.write_plan(workdir / 'plan.json', structures, shutil.which('pw.x') or '/usr/bin/pw.x')
    code = campaign.faulty_pw_code(computer, plan, '')  # the computer prepends the MPI settings
    start = time.monotonic()
    _, node = run_get_node(campaign.labelling_builder(code, structures))
    outcome = campaign.outcome(node, structures, plan)
    print(f'DFT faults: LabellingWorkChain<{node.pk}> [{node.exit_status}] in {time.monotonic() - start:.0f} s')
    for name, (_, fault, times) in campaign.PLAN.items():
        fate = (
            'labelled' if name in outcome['labelled'] else f'quarantined ({outcome["quarantined"].get(name, "LOST")})'
        )
        injected = f'{fault} {"every attempt" if times is None else f"x{times}"}' if fault else 'none'
        print(f'  {name}: injected {injected}; pw.x exit statuses {outcome["pw_runs"].get(name)}; {fate}')
    print(f'  unconverged frames in the dataset: {len(outcome["unconverged_in_dataset"])}')
    return {
        'lost': len(outcome['frames_lost']),
        'twice': len(outcome['labelled_twice']),
        'faults': sum(1 for _, fault, _ in campaign.PLAN.values() if fault),
        'survived': len(outcome['faults_survived']),
    }


# -- malformed inputs ----------------------------------------------------------------------------


def malformed_inputs(workdir: Path, profile_name: str) -> tuple[int, int]:
    """(refused, total) over the cases of ``tests/reliability/refusal_cases.py``, in the loaded profile.

    A case counts as refused when it is refused before anything runs, in one line that names the problem,
    without a traceback (``Outcome.ok``), as ``tests/reliability/test_refusals.py`` asks.
    """
    from aiida_mlipgen.setup.codes import get_or_create_code
    from aiida_mlipgen.setup.computer import get_or_create_localhost
    from aiida_mlipgen.setup.pseudo_family import get_or_create_pseudo_family
    from tests.reliability.refusal_cases import CASES, CODE_ROLES, Context, executable, run_case

    workdir.mkdir(parents=True, exist_ok=True)
    get_or_create_pseudo_family()
    computer, _ = get_or_create_localhost(workdir=workdir / 'work')
    codes = {
        role: get_or_create_code(label, executable(name), plugin, computer)[0]
        for role, (label, name, plugin) in CODE_ROLES.items()
    }
    context = Context(codes=codes, folder=workdir, profile=profile_name)
    refused = 0
    for case in CASES:
        outcome = run_case(case, context)
        refused += outcome.ok
        if not outcome.ok:
            print(f'  NOT REFUSED PROPERLY: {case.id} ({case.target}: {case.problem}): {outcome.message!r}')
    print(
        f'malformed inputs: {refused} of {len(CASES)} cases refused before anything ran, in one line naming the problem'
    )
    return refused, len(CASES)


# -- the campaign --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--setups', nargs='*', default=['production', 'embedded'], choices=['production', 'embedded'])
    parser.add_argument('--no-daemon-crashes', action='store_true', help='only the DFT faults and malformed inputs')
    parser.add_argument('--no-dft-faults', action='store_true', help='leave the DFT faults out')
    parser.add_argument('--workdir', type=Path, help='keep profiles, logs and results here (default: a temp dir)')
    arguments = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # each injection's line as it is known, also into a file
    workdir = arguments.workdir or Path(tempfile.mkdtemp(prefix='mlipgen-reliability-'))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f'machine: {machine()}')
    start = time.monotonic()

    tallies = []
    setups = drivers = None
    try:
        if not arguments.no_daemon_crashes and arguments.setups:
            setups = Setups(workdir, arguments.setups)
            drivers = start_crash_runs(setups, workdir)
        with temporary_profile(workdir / 'reference') as profile:
            if not arguments.no_dft_faults:
                tallies.append(dft_faults(workdir / 'dft'))
            refused, total = malformed_inputs(workdir / 'malformed', profile.name)
            if drivers:
                from aiida.engine import run_get_node

                from tests.faults import crash_loop

                codes = local_codes(workdir / 'reference-work')
                computer = next(iter(codes.values())).computer.label
                reference_start = time.monotonic()
                _, loop = run_get_node(crash_loop.loop_builder(computer))
                reference = crash_loop.summary(loop, [], time.monotonic() - reference_start)
                print(f'daemon crashes, reference (uninterrupted, no daemon): {reference["state"]} in '
                      f'{reference["wall_s"]} s, jobs {reference["jobs"]}')  # fmt: skip
                for name, (process, output) in drivers.items():
                    process.wait(timeout=LOOP_TIMEOUT_S)
                    run = json.loads(output.read_text()) if output.exists() else {'kills': []}
                    tallies.append(judge_crash_run(name, run, reference))
    finally:
        for process, _ in (drivers or {}).values():
            process.kill()
        if setups is not None:
            setups.close()
    print(f'wall time {time.monotonic() - start:.0f} s; machine at the end: {machine()}')
    lost = sum(tally['lost'] for tally in tallies)
    twice = sum(tally['twice'] for tally in tallies)
    survived = sum(tally['survived'] for tally in tallies)
    faults = sum(tally['faults'] for tally in tallies)
    print(f'frames lost {lost}, labelled twice {twice}, faults survived {survived}/{faults}, '
          f'malformed inputs rejected {refused}/{total}')  # fmt: skip


if __name__ == '__main__':
    main()
