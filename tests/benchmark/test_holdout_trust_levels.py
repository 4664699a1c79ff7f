"""The benchmark's test-set errors call frames accurate below the `trust_levels` it is given (the loop's own)."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from aiida_mlipgen.calculations.benchmark import holdout_errors
from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.workflows.benchmark import BenchmarkWorkChain


def predictions() -> DatasetData:
    """Four labelled Si2 frames with committee predictions: frame 1 deviates little (0.02 eV/A) but is 0.5 eV/A off."""
    frames = []
    for index, (deviation, error) in enumerate([(0.01, 0.0), (0.02, 0.5), (0.08, 0.1), (0.3, 0.4)]):
        atoms = bulk('Si', 'diamond', a=5.43)
        atoms.rattle(0.05, seed=index)
        forces = np.zeros((2, 3))
        atoms.calc = SinglePointCalculator(atoms, energy=-10.0, forces=forces)
        atoms.arrays['committee_forces'] = forces + np.array([[error, 0.0, 0.0], [0.0, 0.0, 0.0]])
        atoms.info.update(committee_energy=-10.0, max_force_deviation=deviation)
        frames.append(atoms)
    return DatasetData(frames)


def test_false_negatives_follow_the_given_force_trust_lo(aiida_profile):
    dataset, targets = predictions(), orm.Dict({'targets': {}})
    default = holdout_errors(dataset, targets)['metrics']['calibration']
    assert default['trust_lo_eV_per_A'] == 0.05  # DP-GEN's default: frames 0 and 1 called accurate
    assert default['false_negatives'] == 1  # frame 1, 0.5 eV/A off
    strict = holdout_errors(dataset, targets, orm.Dict({'force_trust_lo': 0.015, 'force_trust_hi': 0.2}))
    calibration = strict['metrics']['calibration']
    assert calibration['trust_lo_eV_per_A'] == 0.015 and calibration['false_negatives'] == 0


def test_trust_levels_have_one_place():
    builder = BenchmarkWorkChain.get_builder()
    with pytest.raises(ValueError, match=r"`test_errors` has unknown keys \['trust_lo'\]"):
        builder.test_errors = orm.Dict({'trust_lo': 0.05})
    with pytest.raises(ValueError, match=r'force trust window \(eV/A\): lo \(0.2\) must be smaller than hi'):
        builder.trust_levels = orm.Dict({'force_trust_lo': 0.2, 'force_trust_hi': 0.1})
