"""``setup_profiles/install.sh``: what it does when it cannot install system packages."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).parents[2]
SCRIPT = REPOSITORY / 'setup_profiles' / 'install.sh'


def as_ordinary_user(command: list[str]) -> list[str]:
    """Run ``command`` as ``nobody`` when the tests run as root, as it is otherwise."""
    if os.getuid() != 0:
        return command
    if shutil.which('setpriv') is None:
        pytest.fail('setpriv (util-linux) is needed to drop root privileges')
    return ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', *command]


def run_script(*steps: str, apt_packages: str, ordinary_user: bool = False) -> subprocess.CompletedProcess:
    command = ['bash', str(SCRIPT), *steps]
    env = {**os.environ, 'APT_PACKAGES': apt_packages}
    return subprocess.run(
        as_ordinary_user(command) if ordinary_user else command,
        cwd=REPOSITORY, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_installed_packages_are_reported_and_left_alone():
    result = run_script('system-packages', apt_packages='openmpi-bin quantum-espresso')
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        'system package openmpi-bin: already installed',
        'system package quantum-espresso: already installed',
    ]


def test_missing_package_without_root_is_skipped_with_the_command_to_run():
    result = run_script('system-packages', apt_packages='openmpi-bin mlipgen-no-such-package', ordinary_user=True)
    assert result.returncode == 0, result.stderr
    assert 'system packages missing: mlipgen-no-such-package' in result.stdout
    assert 'apt-get update && apt-get install -y mlipgen-no-such-package' in result.stdout


def test_unknown_step_is_refused():
    result = run_script('everything', apt_packages='')
    assert result.returncode == 2
    assert "unknown step 'everything'" in result.stderr
