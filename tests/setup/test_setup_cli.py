"""``mlipgen setup``: in-process on the test profile, and end to end on a new profile with its daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiida import orm
from click.testing import CliRunner

from aiida_mlipgen.cli import cli
from aiida_mlipgen.cli.cmd_setup import StepPrinter
from aiida_mlipgen.setup.codes import LOCAL_CODES
from aiida_mlipgen.setup.pseudo_family import DEFAULT_FAMILY_LABEL

MLIPGEN = str(Path(sys.executable).parent / 'mlipgen')


def invoke(*arguments: str):
    """Run ``mlipgen ARGUMENTS`` in this process and return the click result."""
    return CliRunner().invoke(cli, list(arguments), catch_exceptions=False)


def test_setup_reuses_an_existing_profile_and_reports_each_item(aiida_profile, computer_label):
    computer = computer_label
    first = invoke('setup', '--profile', aiida_profile.name, '--computer', computer, '--no-daemon')
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    codes = [spec.label for spec in LOCAL_CODES]
    assert codes[:2] == ['pw', 'lmp']
    assert lines[: 4 + len(codes)] == [
        f'profile {aiida_profile.name}: exists',
        f'storage: core.sqlite_dos ({aiida_profile.storage_config["filepath"]})',
        'broker: none (cannot submit to a daemon)',
        f'computer {computer}: created',
        *(f'code {label}@{computer}: created' for label in codes),
    ]
    assert lines[-1] == 'setup complete'
    assert orm.load_code(f'lmp@{computer}').default_calc_job_plugin == 'lammps.base'

    second = invoke('setup', '--profile', aiida_profile.name, '--computer', computer, '--no-daemon')
    assert second.exit_code == 0, second.output
    assert second.output.splitlines() == [
        f'profile {aiida_profile.name}: exists',
        f'storage: core.sqlite_dos ({aiida_profile.storage_config["filepath"]})',
        'broker: none (cannot submit to a daemon)',
        f'computer {computer}: exists',
        *(f'code {label}@{computer}: exists' for label in codes),
        f'pseudo family {DEFAULT_FAMILY_LABEL}: exists',
        'nothing to do: everything was already set up',
    ]


def test_setup_fails_clearly_when_the_profile_has_no_broker(aiida_profile, computer_label):
    """The test profile, like a ``verdi presto --no-broker`` one, cannot run a daemon."""
    computer = computer_label
    result = CliRunner().invoke(cli, ['setup', '--profile', aiida_profile.name, '--computer', computer])
    assert result.exit_code == 1
    assert f'code pw@{computer}: created' in result.output  # everything else was still done
    assert f'daemon: FAILED: `verdi -p {aiida_profile.name} daemon start` failed' in result.output
    assert 'does not define a broker' in result.output
    assert 'setup incomplete' in result.output


def test_setup_refuses_a_computer_label_taken_by_a_remote_computer(aiida_profile, remote_computer):
    label = remote_computer.label
    result = CliRunner().invoke(cli, ['setup', '--profile', aiida_profile.name, '--computer', label, '--no-daemon'])
    assert result.exit_code == 1
    assert f'computer {label}: FAILED: computer {label} exists with transport core.ssh' in result.output
    assert 'code pw@' not in result.output  # no codes on a computer that is not ours


def run_mlipgen(aiida_path: Path, *arguments: str) -> subprocess.CompletedProcess:
    """Run the installed ``mlipgen`` console script with its own AiiDA configuration folder."""
    env = {**os.environ, 'AIIDA_PATH': str(aiida_path)}
    return subprocess.run([MLIPGEN, *arguments], env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.slow
def test_setup_creates_a_profile_with_a_running_daemon_then_changes_nothing(tmp_path):
    """End to end in a fresh configuration folder, as ``make setup`` runs it (SQLite + ZeroMQ, daemon)."""
    first = run_mlipgen(tmp_path, 'setup', '--profile', 'fresh', '--workers', '1')
    try:
        assert first.returncode == 0, first.stdout + first.stderr
        lines = first.stdout.splitlines()
        assert lines[1].startswith(f'storage: core.sqlite_dos ({tmp_path / ".aiida" / "repository" / "sqlite_dos_"}')
        assert lines[:1] + lines[2:] == [
            'profile fresh: created',
            'broker: core.zeromq (built into the daemon)',
            'computer localhost: created',
            *(f'code {spec.label}@localhost: created' for spec in LOCAL_CODES),
            f'pseudo family {DEFAULT_FAMILY_LABEL}: created',
            'daemon: started (1 workers)',
            'setup complete',
        ]
        second = run_mlipgen(tmp_path, 'setup', '--profile', 'fresh')
        assert second.returncode == 0, second.stdout + second.stderr
        assert second.stdout.splitlines()[-2:] == ['daemon: running', 'nothing to do: everything was already set up']
        unchanged = [line for line in second.stdout.splitlines() if not line.startswith(('storage:', 'broker:'))]
        assert all(line.endswith(': exists') for line in unchanged[: 3 + len(LOCAL_CODES)])

        profile = json.loads((tmp_path / '.aiida' / 'config.json').read_text())['profiles']['fresh']
        assert profile['storage']['backend'] == 'core.sqlite_dos'
        assert profile['process_control']['backend'] == 'core.zeromq'
    finally:
        subprocess.run(
            [str(Path(sys.executable).parent / 'verdi'), '-p', 'fresh', 'daemon', 'stop'],
            env={**os.environ, 'AIIDA_PATH': str(tmp_path)},
            capture_output=True,
            check=False,
        )


@pytest.mark.parametrize('workers', ['0', 'two'])
def test_setup_refuses_a_bad_worker_count_before_doing_anything(workers):
    result = CliRunner().invoke(cli, ['setup', '--workers', workers])
    assert result.exit_code == 2
    assert "Invalid value for '--workers'" in result.output


def test_a_kept_code_with_its_own_executable_counts_as_unchanged():
    step = StepPrinter()
    assert step('code pw@localhost', lambda: 'exists (runs /opt/qe/bin/pw.x)')
    assert step('daemon', lambda: 'running')
    assert not step.changed and not step.failed
    assert step('computer localhost', lambda: 'updated (prepend_text)')
    assert step.changed
