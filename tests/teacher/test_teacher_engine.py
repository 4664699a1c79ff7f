"""The teacher engine without AiiDA: import paths, per-frame failures, labels equal to the calculator's."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk

from aiida_mlipgen.engines.teacher_label import build_calculator, label_batch, main
from aiida_mlipgen.science.extxyz import write_extxyz
from aiida_mlipgen.science.teacher import stillinger_weber_silicon
from tests.silicon import si_frames

SW = 'aiida_mlipgen.science.teacher:stillinger_weber_silicon'


@pytest.mark.parametrize(
    ('path', 'message'),
    [
        ('aiida_mlipgen.science.teacher', 'package.module:Name'),
        ('no_such_module_xyz:Calc', 'cannot import module `no_such_module_xyz`'),
        ('ase.calculators.emt:NoSuchCalculator', 'has no `NoSuchCalculator`'),
        ('ase.units:Ang', 'not a calculator class or factory'),
    ],
)
def test_bad_import_paths_are_refused_in_one_line(path, message):
    with pytest.raises(ValueError, match=message):
        build_calculator(path)


def test_bad_keyword_arguments_are_refused():
    with pytest.raises(ValueError, match='could not be built'):
        build_calculator(SW, {'no_such_keyword': 1})


def test_labels_equal_the_calculators_own_results_and_info_is_kept():
    frames = si_frames(3, seed=4, label=False)
    for index, atoms in enumerate(frames):
        atoms.info['config_type'] = f'rattled {index}'
    labelled, failures = label_batch(frames, build_calculator(SW), stress=True)
    assert failures == {}
    reference = stillinger_weber_silicon()
    for original, atoms in zip(frames, labelled, strict=True):
        original = original.copy()
        original.calc = reference
        assert atoms.get_potential_energy() == pytest.approx(original.get_potential_energy(), abs=1e-10)
        np.testing.assert_allclose(atoms.get_forces(), original.get_forces(), atol=1e-10)
        np.testing.assert_allclose(atoms.get_stress(), original.get_stress(), atol=1e-12)
        assert atoms.info['config_type'] == original.info['config_type']


def test_a_frame_the_teacher_cannot_label_fails_alone():
    """ASE's EMT knows Cu but not Si: the Si frame fails, the Cu frames are labelled."""
    frames = [bulk('Cu', 'fcc', a=3.6, cubic=True), bulk('Si', 'diamond', a=5.43), bulk('Cu', 'fcc', a=3.7)]
    labelled, failures = label_batch(frames, build_calculator('ase.calculators.emt:EMT'), stress=True)
    assert [atoms.info['batch_index'] for atoms in labelled] == [0, 2]
    assert list(failures) == [1]


def test_console_script_writes_labels_and_failures(tmp_path):
    frames = si_frames(2, seed=1)  # carries SW labels already: they must be replaced, not passed through
    frames[1].positions[0] += 0.3
    write_extxyz(tmp_path / 'frames.extxyz', frames)
    (tmp_path / 'teacher.json').write_text(json.dumps({'calculator': 'ase.calculators.emt:EMT', 'stress': False}))
    status = main(
        [
            str(tmp_path / 'teacher.json'),
            '--frames',
            str(tmp_path / 'frames.extxyz'),
            '--output',
            str(tmp_path / 'labelled.extxyz'),
            '--failures',
            str(tmp_path / 'failures.json'),
        ]
    )
    assert status == 0
    assert sorted(json.loads((tmp_path / 'failures.json').read_text())) == ['0', '1']  # EMT has no Si


def test_console_script_reports_a_teacher_that_cannot_be_built(tmp_path, capsys):
    write_extxyz(tmp_path / 'frames.extxyz', si_frames(1, label=False))
    (tmp_path / 'teacher.json').write_text(json.dumps({'calculator': 'missing_package_q:Calc'}))
    assert main([str(tmp_path / 'teacher.json'), '--frames', str(tmp_path / 'frames.extxyz')]) == 2
    assert capsys.readouterr().err.startswith('mlipgen-teacher-label: error: cannot import module')
