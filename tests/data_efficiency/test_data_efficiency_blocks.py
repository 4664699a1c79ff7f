"""The building blocks of ``benchmarks/data_efficiency.py`` at tiny size: phases, teacher MD, label sets.

The benchmark itself takes minutes to hours; these check its pieces in seconds.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / 'benchmarks'
sys.path.insert(0, str(BENCHMARKS))

import data_efficiency  # noqa: E402
import phases  # noqa: E402
import selection  # noqa: E402


def test_starting_structures_have_the_phases_sizes():
    assert len(phases.crystal()) == 64
    assert len(phases.vacancy()) == 63
    slab = phases.slab_100(vacuum_A=6.0)
    assert len(slab) == 64 and slab.pbc.all()
    heights = slab.positions[:, 2]
    gap = slab.cell[2, 2] - (heights.max() - heights.min())
    assert gap == pytest.approx(12.0)  # 6 A each side: more than the SW and model cutoffs
    assert len(np.unique(heights.round(3))) == 8  # eight (100) layers


def test_a_tiny_melt_quench_and_labelled_md():
    recipe = phases.MeltQuench(melt_steps=5, liquid_steps=5, quench_steps=10, hold_steps=2)
    liquid, amorphous = phases.melt_quench(seed=1, recipe=recipe)
    assert len(liquid) == len(amorphous) == 64
    assert not np.allclose(liquid.positions, amorphous.positions)

    conditions = [phases.PhaseCondition('crystal', 300.0), phases.PhaseCondition('liquid', 2500.0)]
    frames = phases.sample_conditions(
        {'crystal': phases.crystal(), 'liquid': liquid}, conditions, num_frames=2, interval=3, seed=0,
        equilibration_steps=2,
    )  # fmt: skip
    assert [atoms.info['condition'] for atoms in frames] == ['crystal_300K'] * 2 + ['liquid_2500K'] * 2
    for atoms in frames:
        assert atoms.get_forces().shape == (64, 3)
        assert np.isfinite(atoms.get_potential_energy())
        assert atoms.get_stress().shape == (6,)
    # Same seed, same frames; the test set and the pools differ only by their seeds.
    again = phases.sample_conditions({'crystal': phases.crystal()}, conditions[:1], 2, 3, seed=0, equilibration_steps=2)
    assert np.allclose(again[1].positions, frames[1].positions)


def test_random_label_sets_are_nested_and_start_from_the_initial_set():
    initial = [phases.crystal() for _ in range(3)]
    pool = [phases.vacancy() for _ in range(10)]
    sets = data_efficiency.random_label_sets(initial, pool, budgets=[3, 5, 8, 20], seed=0)
    assert [len(frames) for frames in sets] == [3, 5, 8]  # 20 would need more than the pool
    assert all(frames[:3] == initial for frames in sets)
    assert sets[1][3:] == sets[2][3:5]


def test_cumulative_label_sets_and_the_loop_schedule():
    assert [len(frames) for frames in data_efficiency.cumulative([[1, 2], [3], [4, 5]])] == [2, 3, 5]
    settings = data_efficiency.QUICK
    assert data_efficiency.iteration_conditions(settings, 1) == settings.schedule[0]
    assert data_efficiency.iteration_conditions(settings, 99) == settings.schedule[-1]
    # Every phase in every iteration, each at its own temperature: only the liquid is explored molten.
    for iteration in range(1, settings.max_iterations + 1):
        temperatures = data_efficiency.iteration_temperatures(settings, iteration)
        assert set(temperatures) == {'crystal', 'liquid', 'amorphous', 'vacancy', 'slab'}
        assert temperatures['liquid'] == [2500.0]
        assert max(t for phase, values in temperatures.items() if phase != 'liquid' for t in values) <= 1500
        # The random pool samples the same conditions.
        pool = data_efficiency.pool_conditions(settings, dict.fromkeys(temperatures), iteration)
        assert {c.label for c in pool} == {c.label for c in data_efficiency.iteration_conditions(settings, iteration)}
    overrides = data_efficiency.loop_overrides(settings, seed=1, method='random')
    assert overrides['selection']['method'] == 'random'
    assert overrides['exploration_test']['per_condition'] == 0
    assert len(overrides['exploration_schedule']) == settings.max_iterations
    assert overrides['exploration_schedule'][0]['temperatures_K'] == data_efficiency.iteration_temperatures(settings, 1)
    assert overrides['adaptive_trust'] == {'enabled': False}
    # The loop's committee is the benchmark models' architecture (l_max 2: SW's three-body term).
    hyperparameters = overrides['train']['train']['nequip']['hyperparameters']
    assert hyperparameters['l_max'] == 2 and hyperparameters['max_epochs'] == settings.loop_epochs
    assert overrides['selection']['descriptor_of'] == 'frame'
    per_atom = data_efficiency.loop_overrides(settings, seed=1, method='fps', descriptor_of='max_deviation_atom')
    assert per_atom['selection']['descriptor_of'] == 'max_deviation_atom'
    from dataclasses import replace

    assert replace(settings, per_atom=True).strategies[-1] == data_efficiency.PER_ATOM_STRATEGY
    adaptive = data_efficiency.loop_overrides(settings, seed=1, method='fps', adaptive=True)
    assert adaptive['adaptive_trust']['enabled'] and adaptive['exploration_test']['per_condition'] > 0


def test_benchmark_models_train_longer_on_more_labels(tmp_path):
    settings = data_efficiency.Settings(model_epochs=30, model_min_steps=300, model_max_steps=2000)
    assert data_efficiency.model_steps(settings, 9) == 300  # the floor
    assert data_efficiency.model_steps(settings, 80) == 600  # 30 passes over 80 frames in batches of 4
    assert data_efficiency.model_steps(settings, 1000) == 2000  # the ceiling
    config = data_efficiency.model_config(tmp_path / 'train.extxyz', tmp_path / 'val.extxyz', seed=3, steps=600)
    assert config['l_max'] == 2 and config['batch_size'] == data_efficiency.MODEL_BATCH_SIZE
    assert config['trainer']['max_steps'] == 600
    assert config['training_module']['lr_scheduler']['scheduler']['T_max'] == 600


def test_quick_is_the_full_runs_first_seed():
    quick, full = data_efficiency.QUICK, data_efficiency.FULL
    assert quick.seeds == (0,) and len(full.seeds) == 3
    # Same loops, test set and pools: the quick run's kept work serves as the full run's seed 0.
    assert data_efficiency.loop_settings(quick) == data_efficiency.loop_settings(full)
    assert data_efficiency.Settings(adaptive=True).strategies[-1] == data_efficiency.ADAPTIVE_STRATEGY


def test_the_selection_benchmark_pool_comes_from_the_same_sampler():
    frames = selection.md_frames(selection.supercell([1, 1, 1]), [300.0], [0.03], 2, 2, seed=0)
    assert [atoms.info['condition'] for atoms in frames] == ['Si8_T300_s+3'] * 2
    assert frames[0].cell[0, 0] == pytest.approx(5.431 * 1.03)
    assert frames[1].get_forces().shape == (8, 3)


def _model(strategy, labels, force_rmse):
    errors = {'force_rmse_eV_per_A': force_rmse, 'energy_mae_meV_per_atom': 100 * force_rmse}
    errors['by_phase'] = {phase: dict(errors) for phase in phases.PHASES}
    return data_efficiency.Model(strategy, 0, labels, 0, None, Path('unused'), errors)


def test_curves_targets_and_their_markdown_tables():
    settings = data_efficiency.Settings(seeds=(0,))
    models = [
        _model('initial', 10, 1.0),
        _model('active_learning', 20, 0.25),
        _model('dpgen_style', 20, 0.5),
        _model('random', 20, 0.5),
        _model('random', 80, 0.25),
    ]
    summary = data_efficiency.summarise_curves(settings, models)
    best = summary['targets']['force_rmse_best_common']
    assert best['target_eV_per_A'] == pytest.approx(0.5)  # the lowest error every strategy reaches
    reached = summary['targets']['force_rmse_0.10']['labels_needed']
    assert reached['random'] == {'labels': None, 'max_labels': 80.0}  # never reached: a bound
    # 0.25 eV/A: ours at 20 labels, random at 80, so a quarter of random's labels.
    needed = data_efficiency.labels_to_target([10, 20, 80], [1.0, 0.5, 0.25], 0.25)
    assert needed == pytest.approx(80)
    table = data_efficiency.markdown_report(summary)
    assert '| active_learning | 20 | 0.250 | 25 |' in table
    assert '| 0.100 eV/A | > 20 | > 20 | > 80 | unknown | unknown |' in table
