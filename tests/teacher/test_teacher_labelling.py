"""TeacherLabellingWorkChain with the real engine: labels, batches, gates, failures and refusals."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase.build import bulk

from aiida_mlipgen.calculations.dataset_operations import merge_datasets
from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.science.teacher import stillinger_weber_silicon
from aiida_mlipgen.workflows.teacher_labelling import TeacherLabellingWorkChain
from tests.silicon import si_frames
from tests.teacher.conftest import SW_TEACHER


def _count_processes() -> int:
    return orm.QueryBuilder().append(orm.ProcessNode).count()


def test_labels_a_dataset_in_batches_with_sw_labels_and_the_frames_info(teacher_code):
    frames = si_frames(5, seed=2, label=False)
    for index, atoms in enumerate(frames):
        atoms.info['config_type'] = 'strained' if index % 2 else 'rattled'
    builder = TeacherLabellingWorkChain.get_builder_from_protocol(
        teacher_code, SW_TEACHER, DatasetData(frames), protocol='fast', overrides={'frames_per_job': 2}
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    jobs = [child for child in node.called if child.process_label == 'TeacherLabelCalculation']
    assert len(jobs) == 3  # 5 frames, 2 per job
    dataset = results['dataset']
    assert dataset.num_frames == 5
    assert results['failures'].get_dict() == {}
    settings = dataset.labelling_settings
    assert settings['code'] == 'teacher' and settings['calculator'] == SW_TEACHER['calculator']
    teacher = stillinger_weber_silicon()
    job_uuids = {job.uuid for job in jobs}
    for index, atoms in enumerate(dataset.get_atoms()):
        assert atoms.info['frame_key'] == f'frame_{index:05d}'
        assert atoms.info['config_type'] == frames[index].info['config_type']
        assert atoms.info['teacher_calculation_uuid'] in job_uuids
        reference = frames[index].copy()
        reference.calc = teacher
        assert atoms.get_potential_energy() == pytest.approx(reference.get_potential_energy(), abs=1e-8)
        np.testing.assert_allclose(atoms.get_forces(), reference.get_forces(), atol=1e-8)
        np.testing.assert_allclose(atoms.get_stress(), reference.get_stress(), atol=1e-10)


def test_screened_and_unlabellable_frames_are_recorded_and_the_rest_labelled(teacher_code):
    """EMT knows Cu, not Si: the Si frame fails in the teacher; two overlapping Cu atoms are never labelled."""
    overlapping = bulk('Cu', 'fcc', a=3.6, cubic=True)
    overlapping.positions[1] = overlapping.positions[0] + 0.2
    structures = {
        'cu_a': orm.StructureData(ase=bulk('Cu', 'fcc', a=3.6, cubic=True)),
        'cu_b': orm.StructureData(ase=bulk('Cu', 'fcc', a=3.7, cubic=True)),
        'overlap': orm.StructureData(ase=overlapping),
        'si': orm.StructureData(ase=bulk('Si', 'diamond', a=5.43)),
    }
    builder = TeacherLabellingWorkChain.get_builder_from_protocol(
        teacher_code, {'calculator': 'ase.calculators.emt:EMT'}, structures, protocol='fast'
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    failures = results['failures'].get_dict()
    assert failures['overlap']['stage'] == 'screening'
    assert failures['si']['stage'] == 'teacher'
    assert [atoms.info['frame_key'] for atoms in results['dataset'].get_atoms()] == ['cu_a', 'cu_b']


def test_a_teacher_that_cannot_be_imported_fails_every_frame_with_the_reason(teacher_code):
    builder = TeacherLabellingWorkChain.get_builder_from_protocol(
        teacher_code, {'calculator': 'not_installed_teacher_pkg:Model'}, DatasetData(si_frames(2, label=False))
    )
    results, node = run_get_node(builder)
    assert node.exit_status == TeacherLabellingWorkChain.exit_codes.ERROR_ALL_FRAMES_FAILED.status
    job = next(child for child in node.called if child.process_label == 'TeacherLabelCalculation')
    assert job.exit_status == job.process_class.exit_codes.ERROR_TEACHER_UNAVAILABLE.status
    assert 'not_installed_teacher_pkg' in job.exit_message
    failures = results['failures'].get_dict()
    assert sorted(failures) == ['frame_00000', 'frame_00001']
    assert all('not_installed_teacher_pkg' in record['reason'] for record in failures.values())


@pytest.mark.parametrize(
    ('calculator', 'match'),
    [
        ({'calculator': 'ase.calculators.emt.EMT'}, 'package.module:Name'),
        ({'calculator': 'ase.calculators.emt:EMT', 'kwargs': {}}, 'unknown keys'),
    ],
)
def test_a_malformed_teacher_is_refused_before_anything_runs(teacher_code, calculator, match):
    before = _count_processes()
    with pytest.raises(ValueError, match=match):  # the builder's port validator already refuses it
        builder = TeacherLabellingWorkChain.get_builder_from_protocol(
            teacher_code, calculator, DatasetData(si_frames(1, label=False))
        )
        run_get_node(builder)
    assert _count_processes() == before


def test_teacher_and_dft_labels_are_never_mixed(teacher_code):
    dft = DatasetData(si_frames(2))
    dft.set_labelling_settings({'code': 'quantumespresso.pw', 'sha256': 'dft'})
    builder = TeacherLabellingWorkChain.get_builder_from_protocol(
        teacher_code, SW_TEACHER, DatasetData(si_frames(1, seed=3, label=False))
    )
    builder.reference_dataset = dft
    before = _count_processes()
    with pytest.raises(ValueError, match='labelling settings differ.*calculator'):
        run_get_node(builder)
    assert _count_processes() == before

    builder.pop('reference_dataset')
    teacher_labels = run_get_node(builder)[0]['dataset']
    with pytest.raises(ValueError, match='different DFT settings'):
        merge_datasets(a=dft, b=teacher_labels)
