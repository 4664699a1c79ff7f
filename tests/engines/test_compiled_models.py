"""AOTInductor-compiled members (``nequip-compile``) give the eager package's predictions.

Compiling takes about a minute per model on this machine, hence the ``slow`` mark.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aiida_mlipgen.engines.committee import Committee

pytestmark = pytest.mark.slow


def _compile(package: Path, output: Path, target: str, log: Path) -> subprocess.Popen:
    command = [str(Path(sys.executable).parent / 'nequip-compile'), str(package), str(output)]
    command += ['--mode', 'aotinductor', '--device', 'cpu', '--target', target]
    with open(log, 'w') as handle:
        return subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=dict(os.environ, OMP_NUM_THREADS='1')
        )


def test_compiled_batch_and_single_frame_models(tiny_committee, make_si_frames, tmp_path):
    package = tiny_committee.packages[0]
    batch, single = tmp_path / 'batch.nequip.pt2', tmp_path / 'ase.nequip.pt2'
    processes = [
        (_compile(package, batch, 'batch', tmp_path / 'batch.log'), tmp_path / 'batch.log'),
        (_compile(package, single, 'ase', tmp_path / 'ase.log'), tmp_path / 'ase.log'),
    ]
    for process, log in processes:
        assert process.wait(timeout=900) == 0, log.read_text()[-3000:]

    committee = Committee.from_files([batch, single, package])
    assert [(m.takes_batches, m.min_batch_frames) for m in committee.members] == [(True, 2), (False, 1), (True, 1)]
    frames = make_si_frames(5, seed=3, label=False)
    for batch_size in (1, 2, 5):  # a batch of one frame is padded for the batch-target model
        prediction = committee.predict(frames, batch_size=batch_size)
        np.testing.assert_allclose(prediction.energies[:2], prediction.energies[[2, 2]], atol=1e-8)
        np.testing.assert_allclose(prediction.stresses[:2], prediction.stresses[[2, 2]], atol=1e-10)
        for forces in prediction.forces:
            np.testing.assert_allclose(forces[:2], forces[[2, 2]], atol=1e-8)
