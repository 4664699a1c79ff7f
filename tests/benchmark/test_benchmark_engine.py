"""``mlipgen-benchmark`` on the node: a teacher against its own labels has zero error; the tiny committee runs NVE."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.io import read, write

from aiida_mlipgen.engines.benchmark import check_input, main
from aiida_mlipgen.science.extxyz import write_extxyz
from tests.silicon import si_frames


def test_teacher_predictions_equal_its_labels(tmp_path):
    frames = si_frames(4, seed=2)
    write_extxyz(tmp_path / 'frames.extxyz', frames)  # lossless: the same positions as labelled
    (tmp_path / 'in.json').write_text(
        json.dumps({'teacher': 'stillinger-weber-si', 'predict': {'frames': 'frames.extxyz'}})
    )
    assert (
        main(
            [
                str(tmp_path / 'in.json'),
                '--predictions',
                str(tmp_path / 'p.extxyz'),
                '--summary',
                str(tmp_path / 's.json'),
            ]
        )
        == 0
    )
    for atoms, label in zip(read(tmp_path / 'p.extxyz', index=':'), frames, strict=True):
        assert atoms.info['committee_energy'] == pytest.approx(label.get_potential_energy(), abs=1e-9)
        assert np.allclose(atoms.arrays['committee_forces'], label.get_forces(), atol=1e-9)
        assert atoms.get_potential_energy() == pytest.approx(label.get_potential_energy())  # labels kept
        assert np.isnan(atoms.info['max_force_deviation'])  # one potential has no spread


def test_committee_nve_writes_traces_and_frames(tmp_path, tiny_committee):
    write(tmp_path / 'si8.extxyz', bulk('Si', 'diamond', a=5.43, cubic=True))
    data = {
        'models': [str(path) for path in tiny_committee.packages],
        'driver': 'mean',
        'nve': {
            'structures': {'si8': 'si8.extxyz'},
            'temperatures_K': [300],
            'steps': 20,
            'interval': 5,
            'frame_interval': 10,
        },
    }
    (tmp_path / 'in.json').write_text(json.dumps(data))
    args = [
        str(tmp_path / 'in.json'),
        '--nve',
        str(tmp_path / 'nve.json'),
        '--nve-frames',
        str(tmp_path / 'f.extxyz'),
        '--summary',
        str(tmp_path / 's.json'),
    ]
    assert main(args) == 0
    (run,) = json.loads((tmp_path / 'nve.json').read_text())['runs']
    assert run['label'] == 'si8_300K' and run['steps_done'] == 20 and len(run['times_fs']) == 5
    assert all(value is not None and value >= 0 for value in run['max_force_deviations'])  # a committee's spread
    assert len(read(tmp_path / 'f.extxyz', index=':')) == 3


@pytest.mark.parametrize(
    ('data', 'message'),
    [
        ({'predict': {'frames': 'x'}}, 'either `models`'),
        ({'teacher': 'lj', 'predict': {'frames': 'x'}}, 'unknown teacher'),
        ({'teacher': 'stillinger-weber-si'}, 'nothing to do'),
        ({'teacher': 'stillinger-weber-si', 'nve': {'structures': {'a': 'a'}, 'steps': 5}}, 'lacks temperatures_K'),
        ({'teacher': 'stillinger-weber-si', 'driver': 'median', 'predict': {'frames': 'x'}}, '`driver`'),
    ],
)
def test_bad_inputs_are_refused_before_any_model_loads(data, message):
    with pytest.raises(ValueError, match=message):
        check_input(data)
