"""The active-learning loop with every real code (pw.x, nequip-train, committee MD and evaluation)."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.engine import run_get_node
from aiida.manage.caching import enable_caching

from aiida_mlipgen.science.splitting import shared_frames


def run_loop(builder):
    with enable_caching():  # every test after the first reuses the initial labels and first trainings
        return run_get_node(builder)


def called(node, label):
    return [child for child in node.called if child.process_label == label]


def test_two_iterations_then_continued_with_caching(loop_builder):
    """One iteration, then the same loop with two: the first iteration's jobs come from the cache."""
    first_results, first = run_loop(loop_builder({'max_iterations': 1}))
    assert first.is_finished_ok, first.exit_message
    assert first_results['stop_reason'].value == 'max_iterations_reached'

    results, node = run_loop(loop_builder({'max_iterations': 2}))
    assert node.is_finished_ok, node.exit_message
    assert results['stop_reason'].value == 'max_iterations_reached'
    rows = results['iterations']['rows']
    assert [row['iteration'] for row in rows] == [1, 2]
    assert rows[1]['training_frames'] > rows[0]['training_frames']  # the new labels were trained on
    assert all(row['selected'] == 2 for row in rows)
    # The last iteration labels no candidates: the returned committee was trained on the returned set.
    assert rows[0]['labelled'] >= 1 and rows[1]['labelled'] == 0
    assert all(row['forces_rmse_eV_per_A'] is not None for row in rows)
    assert [row['test_frames'] for row in rows] == [1, 2]  # one explored frame held out per iteration
    assert all(row['test_force_rmse_eV_per_A'] is not None for row in rows)
    assert len(results['models']) == 2

    # The held-out test sets never reach training or validation.
    for name in ('test_dataset', 'exploration_test_dataset'):
        test_frames = results[name].get_atoms()
        assert not shared_frames(test_frames, results['training_dataset'].get_atoms())
        assert not shared_frames(test_frames, results['validation_dataset'].get_atoms())
    assert results['exploration_test_dataset'].labelling_settings == results['training_dataset'].labelling_settings

    # Continue/extend: iteration 1's DFT runs, trainings and exploration were reused, not rerun.
    first_iteration = [
        job
        for label in ('TrainingWorkChain', 'LabellingWorkChain', 'ExplorationWorkChain')
        for stage in called(node, label)
        for job in stage.called_descendants
        if isinstance(job, orm.CalcJobNode)
    ]
    cached = [job for job in first_iteration if job.base.caching.get_cache_source() is not None]
    assert cached, 'nothing was taken from the cache'
    for kind in ('PwCalculation', 'NequipTrainCalculation', 'ExploreCalculation'):
        assert any(job.process_label == kind for job in cached), f'no cached {kind}'

    # Provenance: every row is made by a calcfunction from the stages' outputs.
    row_node = node.outputs.iterations.creator.inputs['iteration_01']
    sources = {label: row_node.creator.inputs[label].creator for label in ('training_summary', 'selection_statistics')}
    assert sources['selection_statistics'].process_label == 'select_candidates'
    assert orm.load_group(f'mlipgen/al_{node.pk}/iteration_02').count() > 0


@pytest.mark.parametrize(
    ('overrides', 'reason'),
    [
        ({'trust_levels': {'force_trust_lo': 900.0, 'force_trust_hi': 1000.0}}, 'converged'),
        ({'max_dft_calls': 9}, 'dft_budget_exhausted'),
        (
            {'trust_levels': {'force_trust_lo': 1e-7, 'force_trust_hi': 2e-7}, 'min_accurate_fraction': 0.9},
            'no_new_candidates',
        ),
    ],
    ids=['accurate-everywhere', 'budget', 'no-candidates'],
)
def test_each_stopping_rule(loop_builder, overrides, reason):
    results, node = run_loop(loop_builder(overrides))
    assert node.is_finished_ok, node.exit_message
    assert results['stop_reason'].value == reason
    table = results['iterations']
    assert table['stop_reason'] == reason and table['stop_message']
    assert len(table['rows']) == 1
    assert table['rows'][0]['labelled'] == 0  # stopped before labelling anything more


def test_the_loop_ends_with_a_benchmark_of_its_final_committee(loop_builder, aiida_code_installed, pw_code):
    """``benchmark`` given: the final committee is benchmarked on the loop's test sets and against pw.x."""
    from ase.build import bulk

    from aiida_mlipgen.workflows.benchmark import BenchmarkWorkChain
    from tests.silicon import ONE_THREAD, venv_tool

    benchmark_code = aiida_code_installed(
        label='mlipgen-benchmark',
        default_calc_job_plugin='mlipgen.benchmark.model',
        filepath_executable=venv_tool('mlipgen-benchmark'),
        prepend_text=ONE_THREAD,
    )
    benchmark = BenchmarkWorkChain.get_builder_from_protocol(
        {'benchmark': benchmark_code, 'pw': pw_code},
        reference_structures={'si2': orm.StructureData(ase=bulk('Si', 'diamond', a=5.43))},
        protocol='fast',
        checks=('test_errors', 'eos'),
    )
    builder = loop_builder({'max_iterations': 1})
    builder.benchmark = {
        key: value
        for key, value in benchmark._inputs(prune=True).items()
        if key not in ('models', 'test_datasets', 'dft')
    }
    results, node = run_loop(builder)
    assert node.is_finished_ok, node.exit_message
    (bench,) = called(node, 'BenchmarkWorkChain')
    assert {model.uuid for model in bench.inputs.models.values()} == {
        model.uuid for model in results['models'].values()
    }
    assert bench.inputs.test_datasets['fixed'].uuid == results['test_dataset'].uuid
    assert bench.inputs.test_datasets['exploration'].uuid == results['exploration_test_dataset'].uuid
    verdicts = results['benchmark_metrics']['passed']
    assert set(verdicts) == {'test_errors_fixed', 'test_errors_exploration', 'eos_si2'}
    # The EOS references were labelled with the loop's own DFT settings.
    (dft,) = called(bench, 'LabellingWorkChain')
    assert dft.outputs.dataset.labelling_settings['sha256'] == results['training_dataset'].labelling_settings['sha256']
