"""Daemon crashes and the archive round trip, with real daemons, real jobs and real SIGKILLs.

A tiny teacher-labelled loop (2 iterations, real trainings, MD and evaluations) runs under the daemon of
two set-ups made by ``mlipgen setup``: the production one (PostgreSQL + RabbitMQ, both running on this
machine) and the embedded one (SQLite + aiida-core's ZeroMQ broker). ``crash_loop.py`` SIGKILLs every
daemon process at three points (a labelling job running, a training job running, an iteration just
closed) and restarts the daemon. The same loop also runs uninterrupted in this test process: the
reference. The three runs go at once, so the module costs about one loop's wall time. Comparing the
production run with the reference (SQLite) is what showed that a split once followed the key order of a
stored Dict, which PostgreSQL does not keep.

The embedded run's finished loop is then exported with ``verdi archive create`` and imported into a
fresh profile, where ``mlipgen report`` and ``mlipgen export`` read it.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest

from aiida_mlipgen.setup.production import PostgresServer, drop_database
from tests.faults import crash_loop
from tests.setup.test_production_profile import BIN, rabbitmqctl, run_in

CRASH_LOOP = Path(__file__).with_name('crash_loop.py')
ARCHIVE_HASHES = Path(__file__).with_name('archive_hashes.py')
WORKERS = 2
#: Wall-time limit of one crashed loop, kills and restarts included (s).
LOOP_TIMEOUT_S = 4000
#: `mlipgen setup` of one profile, daemon start included (s): minutes on a loaded machine.
SETUP_TIMEOUT_S = 1200


def setup_profile(aiida_path: Path, profile: str, *options: str) -> None:
    """``mlipgen setup`` of ``profile`` (profile, localhost, codes, pseudo family, daemon), or fail with its output."""
    command = (str(BIN / 'mlipgen'), 'setup', '--profile', profile, '--workers', str(WORKERS), *options)
    result = run_in(aiida_path, *command, timeout=SETUP_TIMEOUT_S)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope='module')
def setups(tmp_path_factory):
    """A production and an embedded profile, each with a running daemon; removed afterwards."""
    token = secrets.token_hex(4)
    production = {
        'aiida_path': tmp_path_factory.mktemp('crash-production'),
        'profile': f'crash-prod-{token}',
        'database': f'mlipgen_crash_{token}',
        'vhost': f'mlipgen-crash-{token}',
    }
    embedded = {'aiida_path': tmp_path_factory.mktemp('crash-embedded'), 'profile': f'crash-embedded-{token}'}
    rabbitmqctl('add_vhost', production['vhost'])
    rabbitmqctl('set_permissions', '-p', production['vhost'], 'guest', '.*', '.*', '.*')
    try:
        setup_profile(
            production['aiida_path'],
            production['profile'],
            '--production',
            '--db-name',
            production['database'],
            '--broker-vhost',
            production['vhost'],
        )
        setup_profile(embedded['aiida_path'], embedded['profile'])
        yield {'production': production, 'embedded': embedded}
    finally:
        for setup in (production, embedded):
            run_in(setup['aiida_path'], str(BIN / 'verdi'), '-p', setup['profile'], 'daemon', 'stop')
        drop_database(PostgresServer(), production['database'], production['database'])
        rabbitmqctl('delete_vhost', production['vhost'])


@pytest.fixture(scope='module')
def loop_runs(setups, aiida_profile, tmp_path_factory):
    """The loop crashed three times on each set-up, and once uninterrupted here; their summaries by name."""
    from aiida_mlipgen.setup.codes import LOCAL_CODES, get_or_create_code
    from aiida_mlipgen.setup.computer import get_or_create_localhost

    output = tmp_path_factory.mktemp('crash-runs')
    kills = [argument for point in crash_loop.KILL_POINTS for argument in ('--kill', point)]
    drivers = {}
    for name, setup in setups.items():
        command = [str(BIN / 'python'), str(CRASH_LOOP), setup['profile'], str(output / f'{name}.json'), *kills]
        command += ['--workers', str(WORKERS)]
        log = (output / f'{name}.log').open('w')
        env = {**os.environ, 'AIIDA_PATH': str(setup['aiida_path']), 'PATH': f'{BIN}{os.pathsep}{os.environ["PATH"]}'}
        drivers[name] = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)

    # The reference, meanwhile, in this process, with the codes `mlipgen setup` makes.
    computer, _ = get_or_create_localhost(f'crash-reference-{secrets.token_hex(4)}', workdir=output / 'work')
    for spec in LOCAL_CODES:
        get_or_create_code(spec.label, spec.executable, spec.plugin, computer)
    from aiida.engine import run_get_node

    _, reference = run_get_node(crash_loop.loop_builder(computer.label))
    runs = {'reference': crash_loop.summary(reference, [], 0.0)}

    for name, driver in drivers.items():
        try:
            driver.wait(timeout=LOOP_TIMEOUT_S)
        finally:
            driver.kill()
        log = (output / f'{name}.log').read_text()
        assert driver.returncode == 0, log
        runs[name] = json.loads((output / f'{name}.json').read_text())
    return runs


@pytest.mark.slow
@pytest.mark.parametrize('setup', ['production', 'embedded'])
def test_a_loop_killed_three_times_finishes_as_if_never_interrupted(loop_runs, setup):
    run, reference = loop_runs[setup], loop_runs['reference']
    assert reference['state'] == 'finished' and reference['exit_status'] == 0, reference
    assert run['state'] == 'finished' and run['exit_status'] == 0, run

    # Every kill happened, at its point; the jobs running then were left running (a crashed daemon does not
    # take the scheduler's jobs with it).
    assert [kill['point'] for kill in run['kills']] == list(crash_loop.KILL_POINTS), run['kills']
    for kill in run['kills']:
        assert kill['running'] and kill['killed_pids'] and kill['restarted'], kill
        assert set(kill['killed_pids']).isdisjoint(kill['restarted'])
    assert all(kill['jobs_alive'] >= 1 for kill in run['kills'] if kill['point'] != 'between'), run['kills']
    # A SIGKILLed ZeroMQ broker service leaves the file naming its sockets; the restart removes it first.
    assert all(bool(kill['cleared']) == (setup == 'embedded') for kill in run['kills']), run['kills']

    # No finished calculation ran again, and no frame was labelled twice.
    assert run['rerun_jobs'] == [], run['rerun_jobs']
    assert run['failed_jobs'] == [], run['failed_jobs']
    assert run['jobs'] == reference['jobs']
    assert run['frames_labelled_twice'] == 0
    assert run['frames_sent_to_teacher'] == reference['frames_sent_to_teacher']

    # The same datasets, frame for frame (labels included), as the uninterrupted run.
    assert set(run['datasets']) == set(reference['datasets'])
    for name, dataset in reference['datasets'].items():
        assert run['datasets'][name]['frames'] == dataset['frames'], name
        assert run['datasets'][name]['content_sha256'] == dataset['content_sha256'], name


@pytest.mark.slow
def test_an_archived_loop_keeps_its_hashes_and_reports_from_a_fresh_profile(setups, loop_runs, tmp_path):
    source = setups['embedded']
    loop = loop_runs['embedded']
    assert loop['state'] == 'finished', loop
    archive = tmp_path / 'loop.aiida'
    created = run_in(
        source['aiida_path'], str(BIN / 'verdi'), '-p', source['profile'], 'archive', 'create', str(archive), '-N',
        str(loop['pk']),
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr

    fresh = {'aiida_path': tmp_path / 'fresh', 'profile': 'fresh'}
    made = run_in(
        fresh['aiida_path'], str(BIN / 'verdi'), 'profile', 'setup', 'core.sqlite_dos', '-n', '--profile-name', 'fresh',
        '--email', 'fresh@localhost', '--first-name', 'A', '--last-name', 'B', '--institution', 'C', '--broker', 'none',
        '--filepath', str(tmp_path / 'fresh' / 'storage'),
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    imported = run_in(fresh['aiida_path'], str(BIN / 'verdi'), '-p', 'fresh', 'archive', 'import', str(archive))
    assert imported.returncode == 0, imported.stdout + imported.stderr

    def hashes(setup):
        result = run_in(setup['aiida_path'], str(BIN / 'python'), str(ARCHIVE_HASHES), setup['profile'])
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout.splitlines()[-1])

    before, after = hashes(source), hashes(fresh)
    loop_pk = after['loop_pks'][before['loop_uuids'][str(loop['pk'])]]
    for mapping in ('loop_pks', 'loop_uuids'):
        before.pop(mapping), after.pop(mapping)
    # Every dataset and model of the archive: the hash it was made with, which its file still has.
    for uuid, (kind, stored, recomputed) in after.items():
        assert before[uuid] == [kind, stored, stored] and recomputed == stored, (kind, uuid)
    imported = {stored for _, stored, _ in after.values()}
    assert {dataset['sha256'] for dataset in loop['datasets'].values()} <= imported
    assert sum(kind == 'ModelData' for kind, _, _ in after.values()) >= 4  # two committees of two

    mlipgen = str(BIN / 'mlipgen')
    report = run_in(fresh['aiida_path'], mlipgen, 'report', '-p', 'fresh', str(loop_pk))
    assert report.returncode == 0, report.stdout + report.stderr
    assert 'stopped after 2 iteration(s)' in report.stdout
    exported = run_in(fresh['aiida_path'], mlipgen, 'export', '-p', 'fresh', str(loop_pk), str(tmp_path / 'export'))
    assert exported.returncode == 0, exported.stdout + exported.stderr
    training = tmp_path / 'export' / 'training.extxyz'
    assert hashlib.sha256(training.read_bytes()).hexdigest() == loop['datasets']['training_dataset']['sha256']
    model_hashes = {stored for kind, stored, _ in after.values() if kind == 'ModelData'}
    exported_models = sorted((tmp_path / 'export' / 'models').glob('*.nequip.zip'))
    assert len(exported_models) == 2
    assert {hashlib.sha256(path.read_bytes()).hexdigest() for path in exported_models} <= model_hashes
