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

from tests.silicon import si_frames, venv_tool

#: A very small NequIP model (2 layers x 8 features, l_max 1, cutoff 4 A), 3 epochs on CPU.
TINY_CONFIG = """\
run: [train]
seed: 1
cutoff_radius: 4.0
model_type_names: [Si]
chemical_species: ${model_type_names}
train_path: ???
val_path: ???
dataloader:
  _target_: torch.utils.data.DataLoader
  batch_size: 4
data:
  _target_: nequip.data.datamodule.ASEDataModule
  seed: ${seed}
  train_file_path: ${train_path}
  val_file_path: ${val_path}
  transforms:
    - _target_: nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper
      model_type_names: ${model_type_names}
      chemical_species_to_atom_type_map: ${list_to_identity_dict:${chemical_species}}
    - _target_: nequip.data.transforms.NeighborListTransform
      r_max: ${cutoff_radius}
  train_dataloader: ${dataloader}
  val_dataloader: ${dataloader}
  stats_manager:
    _target_: nequip.data.CommonDataStatisticsManager
    type_names: ${model_type_names}
trainer:
  _target_: lightning.Trainer
  max_epochs: 3
  check_val_every_n_epoch: 1
  log_every_n_steps: 1
  enable_progress_bar: false
  callbacks:
    - _target_: lightning.pytorch.callbacks.ModelCheckpoint
      monitor: val0_epoch/weighted_sum
      dirpath: ${hydra:runtime.output_dir}
      filename: best
      save_top_k: 1
training_module:
  _target_: nequip.train.EMALightningModule
  ema_decay: 0.99
  loss:
    _target_: nequip.train.EnergyForceStressLoss
    per_atom_energy: true
    coeffs: {total_energy: 1.0, forces: 1.0, stress: 100.0}
  val_metrics:
    _target_: nequip.train.EnergyForceStressMetrics
    coeffs: {total_energy_mae: 1.0, forces_mae: 1.0, stress_mae: 1.0}
  optimizer:
    _target_: torch.optim.Adam
    lr: 0.01
  model:
    _target_: nequip.model.NequIPGNNModel
    seed: ${seed}
    model_dtype: float64
    type_names: ${model_type_names}
    r_max: ${cutoff_radius}
    l_max: 1
    parity: true
    num_layers: 2
    num_features: 8
    radial_mlp_depth: 1
    radial_mlp_width: 8
    avg_num_neighbors: ${training_data_stats:num_neighbors_mean}
    per_type_energy_shifts: ${training_data_stats:per_atom_energy_mean}
    per_type_energy_scales: ${training_data_stats:forces_rms}
"""

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
    (root / 'tiny.yaml').write_text(TINY_CONFIG)

    train_commands, logs = [], []
    for seed in SEEDS:
        train_commands.append(
            [
                venv_tool('nequip-train'),
                '-cp',
                str(root),
                '-cn',
                'tiny',
                f'train_path={train_file}',
                f'val_path={val_file}',
                f'seed={seed}',
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
