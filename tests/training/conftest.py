"""Fixtures of the training tests: Stillinger-Weber silicon datasets, the real ``nequip-train`` code, tiny settings."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from ase import Atoms

from aiida_mlipgen.science.teacher import sw_silicon_frames
from tests.silicon import ONE_THREAD, venv_tool

FIXTURES = Path(__file__).parent / 'fixtures'

#: A tiny model and a few epochs: each training takes seconds on one CPU thread.
TINY_HYPERPARAMETERS = {
    'cutoff_radius': 4.0,
    'num_layers': 2,
    'num_features': 8,
    'radial_mlp_width': 8,
    'l_max': 1,
    'max_epochs': 3,
    'batch_size': 5,
    'learning_rate': 0.01,
    'device': 'cpu',
}


def labelled_silicon(count: int, seed: int, stress: bool = True) -> list[Atoms]:
    """``count`` 8-atom Si cells, strained (+-3 %) and rattled (0.08 A), labelled with Stillinger-Weber."""
    return sw_silicon_frames(count, seed, stress=stress)


@pytest.fixture
def silicon_datasets(aiida_profile):
    """Stored training (20 frames) and validation (6 frames) ``DatasetData`` of SW silicon."""
    from aiida_mlipgen.data.dataset import DatasetData

    return DatasetData(labelled_silicon(20, seed=0)).store(), DatasetData(labelled_silicon(6, seed=1)).store()


@pytest.fixture
def nequip_code(aiida_code_installed):
    """The real ``nequip-train`` of this environment as an AiiDA code on the test localhost."""
    return aiida_code_installed(
        label='nequip-train',
        default_calc_job_plugin='mlipgen.nequip.train',
        filepath_executable=venv_tool('nequip-train'),
        prepend_text=ONE_THREAD,
    )


@pytest.fixture
def failing_seed_code(aiida_code_installed, tmp_path):
    """A ``nequip-train`` whose compute node dies for one seed: a stand-in for a node failure.

    A wrapper script exits with an error before training when the config holds ``seed: 13`` and runs
    the real ``nequip-train`` otherwise, so one committee member's job fails as on a broken node.
    """
    wrapper = tmp_path / 'nequip-train'
    wrapper.write_text(
        '#!/bin/bash\n'
        "if grep -qx 'seed: 13' config.yaml; then\n"
        "    echo 'RuntimeError: simulated compute node failure' >&2\n"
        '    exit 1\n'
        'fi\n'
        f'exec {venv_tool("nequip-train")} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    for name in ('nequip-package', 'nequip-compile'):
        (tmp_path / name).symlink_to(venv_tool(name))
    return aiida_code_installed(
        label='nequip-train-flaky',
        default_calc_job_plugin='mlipgen.nequip.train',
        filepath_executable=str(wrapper),
        prepend_text=ONE_THREAD,
    )


@pytest.fixture
def tiny_hyperparameters():
    """A copy of :data:`TINY_HYPERPARAMETERS` to modify."""
    return dict(TINY_HYPERPARAMETERS)
