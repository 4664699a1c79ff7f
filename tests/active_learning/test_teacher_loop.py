"""The loop with a teacher labeller (Stillinger-Weber): the exploration test set, calibration, and the end.

No pw.x here: labels come from the teacher, so these tests exercise the loop's own logic in seconds per
iteration with real training, MD and evaluation.
"""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.engine import run_get_node
from aiida_quantumespresso.workflows.protocols.utils import recursive_merge
from ase.build import bulk

from aiida_mlipgen.science.splitting import shared_frames
from aiida_mlipgen.workflows.active_learning import ActiveLearningWorkChain
from tests.active_learning.conftest import TINY_OVERRIDES
from tests.silicon import ONE_THREAD, venv_tool
from tests.teacher.conftest import SW_TEACHER

TEACHER_OVERRIDES = recursive_merge(
    {key: value for key, value in TINY_OVERRIDES.items() if key != 'label'},
    {
        'trust_levels': {'force_trust_lo': 0.02, 'force_trust_hi': 5.0},
        'exploration_schedule': [{'temperatures_K': [300, 900]}],
        'exploration_test': {'per_condition': 2, 'min_frames': 6},
        'adaptive_trust': {'enabled': True, 'min_frames': 3},
    },
)


@pytest.fixture
def teacher_loop_builder(aiida_code_installed):
    def code(label, plugin):
        return aiida_code_installed(
            label=label, default_calc_job_plugin=plugin, filepath_executable=venv_tool(label), prepend_text=ONE_THREAD
        )

    codes = {
        'teacher': code('mlipgen-teacher-label', 'mlipgen.teacher_label'),
        'train': code('nequip-train', 'mlipgen.nequip.train'),
        'explore': code('mlipgen-explore', 'mlipgen.explore'),
        'evaluate': code('mlipgen-evaluate', 'mlipgen.evaluate'),
    }

    def factory(overrides=None):
        return ActiveLearningWorkChain.get_builder_from_protocol(
            codes,
            {'si8': orm.StructureData(ase=bulk('Si', 'diamond', a=5.43, cubic=True))},
            protocol='fast',
            overrides=recursive_merge(TEACHER_OVERRIDES, overrides or {}),
            teacher=SW_TEACHER,
        )

    return factory


def _drawn_per_iteration(node) -> list[int]:
    """Frames sent to labelling for the exploration test set, per iteration."""
    links = node.base.links.get_outgoing(link_label_filter='label_exploration_test_%').all()
    return [link.node.inputs.dataset.num_frames for link in sorted(links, key=lambda link: link.link_label)]


@pytest.mark.slow
def test_teacher_loop_holds_out_exploration_frames_and_ends_with_a_matching_committee(teacher_loop_builder):
    results, node = run_get_node(teacher_loop_builder())
    assert node.is_finished_ok, node.exit_message
    rows = results['iterations']['rows']
    assert [row['iteration'] for row in rows] == [1, 2]
    assert results['stop_reason'].value == 'max_iterations_reached'

    # The exploration test set: 3 frames per condition first (to reach 6), then 2 more per condition; a
    # frame that fails the labelling gates is left out of it.
    assert _drawn_per_iteration(node) == [6, 4]
    assert 0 < rows[0]['test_frames'] <= 6 and rows[0]['test_frames'] < rows[1]['test_frames'] <= 10
    for row in rows:
        assert row['test_force_rmse_eV_per_A'] > 0 and row['test_energy_mae_meV_per_atom'] >= 0
        assert set(row['test_per_condition']) == {'si8_300K', 'si8_900K'}
        assert row['false_negatives'] <= row['called_accurate']
        assert set(row['fitted_force_trust_lo']) == {'si8'}
    # The level fitted in iteration 1 is the one iteration 2 selected with.
    fitted = rows[0]['fitted_force_trust_lo']['si8']
    if fitted is not None:
        assert rows[1]['trust_window']['force_trust_lo_per_structure'] == {'si8': fitted}

    exploration_test = results['exploration_test_dataset']
    assert exploration_test.num_frames == rows[1]['test_frames']
    assert all(atoms.info['condition'] in {'si8_300K', 'si8_900K'} for atoms in exploration_test.get_atoms())
    # Labels only: the committee's deviations stay with the explored frames.
    assert not any('force_deviation' in atoms.arrays for atoms in exploration_test.get_atoms())
    for name in ('training_dataset', 'validation_dataset', 'test_dataset'):
        assert not shared_frames(exploration_test.get_atoms(), results[name].get_atoms())

    # The last iteration labels no candidates, so the returned committee was trained on the returned set.
    assert rows[1]['labelled'] == 0 and rows[0]['labelled'] >= 1
    last_training = sorted(
        (child for child in node.called if child.process_label == 'TrainingWorkChain'), key=lambda n: n.ctime
    )[-1]
    assert last_training.inputs.training_dataset.uuid == results['training_dataset'].uuid
    assert {model.uuid for model in results['models'].values()} == {
        model.uuid for model in last_training.outputs.models.values()
    }

    # Every label is a teacher label, traceable to its job; DFT calls count the teacher's labels.
    settings = results['training_dataset'].labelling_settings
    assert settings['code'] == 'teacher'
    uuid = results['training_dataset'].get_atoms()[0].info['teacher_calculation_uuid']
    assert orm.load_node(uuid).process_label == 'TeacherLabelCalculation'
    assert rows[1]['dft_calls_total'] > rows[0]['dft_calls_total']


def test_a_loop_needs_exactly_one_labeller(teacher_loop_builder, pw_code, pseudo_family):
    from aiida_mlipgen.workflows.labelling import LabellingWorkChain

    builder = teacher_loop_builder()
    label = LabellingWorkChain.get_builder_from_protocol(
        pw_code, {'si': orm.StructureData(ase=builder.seed_structures['si8'].get_ase())}, protocol='fast'
    )
    label.pop('structures')
    builder.label = label._inputs(prune=True)
    before = orm.QueryBuilder().append(orm.ProcessNode).count()
    with pytest.raises(ValueError, match='exactly one labeller'):
        run_get_node(builder)
    assert orm.QueryBuilder().append(orm.ProcessNode).count() == before
