"""A tiny real NequIP committee, trained once per test session with the real CLIs (a pytest plugin).

Two members (seeds 1 and 2), 2 layers x 8 features, 3 epochs, on Stillinger-Weber silicon, trained
with ``nequip-train`` and packaged with ``nequip-package build``; registered in ``tests/conftest.py``
so that every test directory shares the one training.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from ase.io import write

from aiida_mlipgen.calculations.nequip_config import TrainingData, build_config, config_to_yaml
from tests.silicon import si_frames, venv_tool

#: A very small NequIP model (2 layers x 8 features, l_max 1, cutoff 4 A, float64), 3 epochs on CPU: the
#: package's own training template (what ``NequipTrainCalculation`` runs) with these hyperparameters.
TINY_HYPERPARAMETERS = {
    'num_layers': 2,
    'num_features': 8,
    'radial_mlp_width': 8,
    'l_max': 1,
    'cutoff_radius': 4.0,
    'model_dtype': 'float64',
    'max_epochs': 3,
    'batch_size': 4,
    'learning_rate': 0.01,
    'ema_decay': 0.99,
    'device': 'cpu',
}

SEEDS = (1, 2)


@dataclass(frozen=True)
class TinyCommittee:
    """Files of the session's tiny committee."""

    packages: tuple[Path, ...]
    checkpoints: tuple[Path, ...]
    train_file: Path


def _run_parallel(commands: list[list[str]], logs: list[Path]) -> None:
    """Run commands two at a time with one thread each; fail with the log of any that fails."""
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    with contextlib.ExitStack() as stack:
        handles = [stack.enter_context(open(log, 'w')) for log in logs]
        processes = [
            subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
            for command, handle in zip(commands, handles, strict=True)
        ]
        codes = [process.wait(timeout=600) for process in processes]
    for code, command, log in zip(codes, commands, logs, strict=True):
        if code != 0:
            raise RuntimeError(f'{command[0]} failed ({code}):\n{log.read_text()[-3000:]}')


@pytest.fixture(scope='session')
def tiny_committee(tmp_path_factory) -> TinyCommittee:
    """Two tiny NequIP models (seeds 1 and 2) trained with the real CLI, packaged and checkpointed."""
    root = tmp_path_factory.mktemp('tiny_committee')
    frames = si_frames(20, seed=0)
    train_file, val_file = root / 'train.extxyz', root / 'val.extxyz'
    write(train_file, frames[:16])
    write(val_file, frames[16:])
    data = TrainingData(training_file=str(train_file), validation_file=str(val_file), species=['Si'], has_stress=True)

    train_commands, logs = [], []
    for seed in SEEDS:
        config = build_config(TINY_HYPERPARAMETERS, seed=seed, data=data)
        (root / f'tiny{seed}.yaml').write_text(config_to_yaml(config))
        train_commands.append(
            [
                venv_tool('nequip-train'),
                '-cp',
                str(root),
                '-cn',
                f'tiny{seed}',
                f'hydra.run.dir={root / f"member{seed}"}',
            ]
        )
        logs.append(root / f'train{seed}.log')
    _run_parallel(train_commands, logs)

    checkpoints = tuple(root / f'member{seed}' / 'best.ckpt' for seed in SEEDS)
    packages = tuple(root / f'member{seed}.nequip.zip' for seed in SEEDS)
    _run_parallel(
        [
            [venv_tool('nequip-package'), 'build', str(ckpt), str(pkg)]
            for ckpt, pkg in zip(checkpoints, packages, strict=True)
        ],
        [root / f'package{seed}.log' for seed in SEEDS],
    )
    return TinyCommittee(packages=packages, checkpoints=checkpoints, train_file=train_file)
