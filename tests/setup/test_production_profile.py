"""``mlipgen setup --production`` on this machine's PostgreSQL and RabbitMQ, with jobs run by its daemon.

Each session creates its own database, role and RabbitMQ virtual host (random names) and removes them
afterwards; the services themselves are left as they were. PostgreSQL at 127.0.0.1:5432 (role
``postgres``, trust authentication) and RabbitMQ at 127.0.0.1:5672 (guest/guest) must be running:
the tests fail, never skip, without them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from aiida_mlipgen.cli import cli
from aiida_mlipgen.setup.production import PostgresServer, drop_database

BIN = Path(sys.executable).parent
DAEMON_JOBS = Path(__file__).with_name('daemon_jobs.py')
WORKERS = 2  # two cores here; the default for production is more


def run_in(aiida_path: Path, *command: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``command`` with its own AiiDA configuration folder and this environment's tools first on PATH."""
    env = {**os.environ, 'AIIDA_PATH': str(aiida_path), 'PATH': f'{BIN}{os.pathsep}{os.environ["PATH"]}'}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def rabbitmqctl(*arguments: str) -> None:
    """Run ``rabbitmqctl`` (needs the server's Erlang cookie: root on this machine)."""
    executable = shutil.which('rabbitmqctl')
    if executable is None:
        pytest.fail('rabbitmqctl not found: the production tests need the RabbitMQ server of this machine')
    subprocess.run([executable, *arguments], check=True, capture_output=True, timeout=300)  # slow on a loaded machine


@pytest.fixture(scope='module')
def production(tmp_path_factory):
    """A production profile made by ``mlipgen setup --production`` with a running daemon; removed afterwards."""
    token = secrets.token_hex(4)
    aiida_path = tmp_path_factory.mktemp('production')
    names = {'profile': f'prod-{token}', 'database': f'mlipgen_test_{token}', 'vhost': f'mlipgen-test-{token}'}
    rabbitmqctl('add_vhost', names['vhost'])
    rabbitmqctl('set_permissions', '-p', names['vhost'], 'guest', '.*', '.*', '.*')
    try:
        setup = run_in(
            aiida_path,
            str(BIN / 'mlipgen'),
            'setup',
            '--production',
            '--profile',
            names['profile'],
            '--db-name',
            names['database'],
            '--broker-vhost',
            names['vhost'],
            '--workers',
            str(WORKERS),
        )
        yield {**names, 'aiida_path': aiida_path, 'setup': setup}
    finally:
        run_in(aiida_path, str(BIN / 'verdi'), '-p', names['profile'], 'daemon', 'stop')
        drop_database(PostgresServer(), names['database'], names['database'])
        rabbitmqctl('delete_vhost', names['vhost'])


def test_production_setup_uses_postgresql_and_rabbitmq_and_says_so(production):
    setup = production['setup']
    assert setup.returncode == 0, setup.stdout + setup.stderr
    lines = setup.stdout.splitlines()
    assert lines[0].startswith(f'profile {production["profile"]}: created (database {production["database"]}')
    assert lines[1] == (
        f'storage: core.psql_dos (postgresql://{production["database"]}@127.0.0.1:5432/{production["database"]})'
    )
    assert lines[2] == f'broker: core.rabbitmq (amqp://guest@127.0.0.1:5672/{production["vhost"]})'
    assert f'daemon: started ({WORKERS} workers)' in lines
    assert lines[-1] == 'setup complete'

    status = run_in(production['aiida_path'], str(BIN / 'verdi'), '-p', production['profile'], 'status')
    checks = {line.split(':')[0].strip(' ✔'): line for line in status.stdout.splitlines() if line.startswith(' ✔')}
    assert 'postgresql' in checks['storage'], status.stdout
    assert 'RabbitMQ' in checks['broker'] and production['vhost'] in checks['broker'], status.stdout

    again = run_in(production['aiida_path'], str(BIN / 'mlipgen'), 'setup', '--production', '-p', production['profile'])
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.splitlines()[0] == f'profile {production["profile"]}: exists'
    assert again.stdout.splitlines()[-1] == 'nothing to do: everything was already set up'


@pytest.mark.slow
def test_production_daemon_runs_a_labelling_and_a_training(production):
    jobs = run_in(
        production['aiida_path'], str(BIN / 'python'), str(DAEMON_JOBS), production['profile'], 'localhost', timeout=960
    )
    assert jobs.returncode == 0, jobs.stdout + jobs.stderr
    result = json.loads(jobs.stdout.splitlines()[-1])
    labelling, training = result['labelling'], result['training']
    assert labelling['exit_status'] == 0, result
    assert labelling['num_frames'] == 2
    assert [job['label'] for job in labelling['jobs']] == ['PwCalculation', 'PwCalculation']
    assert training['exit_status'] == 0, result
    assert training['model_species'] == ['Si']
    assert all(job['ok'] and job['job_id'] for job in labelling['jobs'] + training['jobs'])


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def test_production_setup_without_rabbitmq_creates_nothing(tmp_path):
    port = str(closed_port())
    result = run_in(tmp_path, str(BIN / 'mlipgen'), 'setup', '--production', '-p', 'nobroker', '--broker-port', port)
    assert result.returncode == 1
    assert f'profile nobroker: FAILED: RabbitMQ is not reachable at 127.0.0.1:{port}' in result.stderr
    assert 'Traceback' not in result.stderr and result.stderr.count('FAILED') == 1  # one line says why
    assert 'storage:' not in result.stdout  # nothing after the profile was attempted
    config = tmp_path / '.aiida' / 'config.json'
    assert not config.exists() or 'nobroker' not in json.loads(config.read_text())['profiles']


def test_production_setup_never_turns_an_sqlite_profile_into_a_production_one(aiida_profile):
    result = CliRunner().invoke(cli, ['setup', '--production', '--profile', aiida_profile.name, '--no-daemon'])
    assert result.exit_code == 1
    assert f'profile `{aiida_profile.name}` exists on core.sqlite_dos' in result.output
    assert 'storage:' not in result.output  # nothing else was done


@pytest.mark.slow
def test_production_run_from_a_yaml_file_then_status_shows_the_stage_and_its_jobs(production, tmp_path):
    """``mlipgen run --config`` submits to the daemon; ``mlipgen status`` names the running stage and jobs."""
    from ase.build import bulk
    from ase.io import write

    from tests.active_learning.conftest import TINY_OVERRIDES

    seed = tmp_path / 'si2.extxyz'
    write(seed, bulk('Si', 'diamond', a=5.43))
    config = tmp_path / 'loop.yaml'
    config.write_text(
        yaml.safe_dump({'computer': 'localhost', 'protocol': 'fast', 'max_iterations': 1, 'overrides': TINY_OVERRIDES})
    )
    mlipgen = (str(BIN / 'mlipgen'), '-p', production['profile'])
    run = run_in(production['aiida_path'], mlipgen[0], 'run', *mlipgen[1:], str(seed), '--config', str(config))
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines()[0] == (
        'pw: pw@localhost, train: nequip-train@localhost, explore: mlipgen-explore@localhost, '
        'evaluate: mlipgen-evaluate@localhost'
    )
    pk = run.stdout.split('ActiveLearningWorkChain<')[1].split('>')[0]
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status = run_in(production['aiida_path'], mlipgen[0], 'status', *mlipgen[1:], pk)
            assert status.returncode == 0, status.stdout + status.stderr
            if ' on localhost job ' in status.stdout:
                break
            time.sleep(1)
        lines = status.stdout.splitlines()
        assert lines[0].startswith(f'ActiveLearningWorkChain<{pk}> ')
        assert lines[2].startswith('jobs: ') and 'not finished' in lines[2], status.stdout
        # The jobs are the stage's: DFT runs while labelling, trainings while training.
        stage_jobs = {'LabellingWorkChain': 'PwCalculation', 'TrainingWorkChain': 'NequipTrainCalculation'}
        stage = lines[1].removeprefix('stage: ').split('<')[0]
        assert stage in stage_jobs, status.stdout
        running = [line for line in lines[3:] if ' on localhost job ' in line]
        assert running and all(line.startswith(f'  {stage_jobs[stage]}<') for line in running), status.stdout
        assert all(re.search(r': (scheduler|aiida): [a-z_]+$', line) for line in running), status.stdout
    finally:
        run_in(production['aiida_path'], str(BIN / 'verdi'), '-p', production['profile'], 'process', 'kill', pk)
