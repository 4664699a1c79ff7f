"""The `select_candidates` calcfunction: known answers for classes, statistics, duplicates and the budget."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from aiida_mlipgen.calculations.selection import select_candidates
from aiida_mlipgen.data.dataset import DatasetData

#: Eight-atom diamond silicon.
BASE = bulk('Si', 'diamond', a=5.43, cubic=True)


def frame(seed: int, max_force_deviation: float, condition: str, amplitude: float = 0.08, **info) -> Atoms:
    """A distinct rattled Si8 cell with its deviations in info and a committee prediction as calculator results."""
    atoms = BASE.copy()
    atoms.rattle(amplitude, seed=seed)
    atoms.calc = SinglePointCalculator(atoms, energy=-36.0, forces=np.zeros((len(atoms), 3)))
    atoms.info.update(
        {
            'max_force_deviation': max_force_deviation,
            'energy_deviation_per_atom': info.pop('energy_deviation_per_atom', 0.001),
            'stress_deviation': info.pop('stress_deviation', 0.0001),
            'condition': condition,
            **info,
        }
    )
    return atoms


def run(frames, parameters=None, training=None, trust_levels=None, **extra):
    """Run the calcfunction; return its outputs and node."""
    inputs = {'explored': DatasetData(frames), 'parameters': orm.Dict(parameters or {}), **extra}
    if trust_levels is not None:
        inputs['trust_levels'] = orm.Dict(trust_levels)
    if training is not None:
        inputs['training'] = DatasetData(training)
    return select_candidates.run_get_node(**inputs)


def test_classes_and_statistics_per_condition(aiida_profile):
    # Condition A: 2 accurate, 2 candidates, 1 failed; B: 9 accurate + 1 candidate (accurate fraction 0.9).
    deviations_a = [0.01, 0.049, 0.05, 0.10, 0.30]
    deviations_b = [0.01] * 9 + [0.06]
    frames = [frame(i, value, 'Si8_T1500_P0') for i, value in enumerate(deviations_a)]
    frames += [frame(100 + i, value, 'Si8_T300_P0') for i, value in enumerate(deviations_b)]
    results, node = run(frames)

    assert node.is_finished_ok
    statistics = results['statistics'].get_dict()
    hot, cold = statistics['per_condition']['Si8_T1500_P0'], statistics['per_condition']['Si8_T300_P0']
    assert (hot['total'], hot['accurate'], hot['candidate'], hot['failed']) == (5, 2, 2, 1)
    assert hot['accurate_fraction'] == pytest.approx(0.4)
    assert hot['failed_fraction'] == pytest.approx(0.2)
    assert (cold['total'], cold['accurate'], cold['candidate'], cold['failed']) == (10, 9, 1, 0)
    assert cold['accurate_fraction'] == pytest.approx(0.9)
    assert (statistics['overall']['accurate'], statistics['overall']['candidate']) == (11, 3)
    assert statistics['converged'] is False  # the hot condition is at 0.4 < 0.9
    assert statistics['num_candidates'] == 3
    assert statistics['parameters']['force_trust_lo'] == 0.05
    assert statistics['parameters']['force_trust_hi'] == 0.15

    # Candidates are the frames inside [0.05, 0.15): explored indices 2, 3 and 14.
    assert sorted(results['structures']) == ['candidate_00002', 'candidate_00003', 'candidate_00014']
    histogram = statistics['max_force_deviation_histogram']
    assert histogram['bin_edges'][0] == 0.0 and histogram['bin_edges'][-1] == pytest.approx(0.30)
    assert sum(histogram['counts']) + histogram['overflow'] == len(frames)


def test_selected_frames_keep_provenance_and_lose_predictions(aiida_profile):
    frames = [frame(0, 0.01, 'c1'), frame(1, 0.12, 'c1', step=40), frame(2, 0.2, 'c2')]
    results, node = run(frames)

    structure = results['structures']['candidate_00001']
    assert np.allclose(structure.get_ase().positions, frames[1].positions)
    assert np.allclose(structure.cell, frames[1].cell)
    selected = results['selected'].get_atoms()
    assert len(selected) == 1
    info = selected[0].info
    assert (info['source_index'], info['candidate_key'], info['selection_rank']) == (1, 'candidate_00001', 0)
    assert (info['condition'], info['step'], info['max_force_deviation']) == ('c1', 40, 0.12)
    assert not results['selected'].base.attributes.get('has_energy')  # the committee prediction is gone
    # Every output is created by the calcfunction, whose input is the explored dataset.
    assert structure.creator.uuid == node.uuid
    assert node.inputs.explored.num_frames == 3


def test_budget_is_respected(aiida_profile):
    frames = [frame(i, 0.05 + 0.01 * i, 'c') for i in range(8)]
    results, _ = run(frames, {'max_selected': 3})
    assert len(results['structures']) == 3
    assert results['selected'].num_frames == 3
    assert results['statistics']['num_candidates'] == 8
    assert results['statistics']['num_selected'] == 3

    random_results, _ = run(frames, {'max_selected': 3, 'method': 'random', 'seed': 4})
    assert len(random_results['structures']) == 3


def test_near_duplicates_of_the_training_set_are_skipped(aiida_profile):
    frames = [frame(i, 0.1, 'c') for i in range(4)]
    # Training holds frame 1 itself and frame 3 moved by at most 0.001 A: both are near-duplicates.
    nudged = frames[3].copy()
    nudged.positions += np.random.default_rng(0).uniform(-0.001, 0.001, nudged.positions.shape)
    training = [frames[1].copy(), nudged, bulk('Si', 'diamond', a=5.43)]
    for method in ('fps', 'random'):
        results, _ = run(frames, {'method': method}, training=training)
        assert sorted(results['structures']) == ['candidate_00000', 'candidate_00002'], method
        assert results['statistics']['num_duplicates_of_training'] == 2
        assert results['statistics']['num_training_frames'] == 3


def test_farthest_point_sampling_takes_one_of_a_cluster(aiida_profile):
    # Frames 0-2: one configuration nudged by 1e-4 A (near-duplicates of each other); 3 and 4 are distinct.
    cluster = []
    for seed in range(3):
        atoms = frame(7, 0.1, 'c')
        atoms.positions += np.random.default_rng(seed).uniform(-1e-4, 1e-4, atoms.positions.shape)
        cluster.append(atoms)
    frames = [*cluster, frame(8, 0.1, 'c'), frame(9, 0.1, 'c')]
    results, _ = run(frames, {'max_selected': 3})
    picked = sorted(int(key.split('_')[1]) for key in results['structures'])
    assert len(picked) == 3
    assert picked[-2:] == [3, 4]
    assert picked[0] in (0, 1, 2)


def test_energy_window_adds_candidates(aiida_profile):
    frames = [
        frame(0, 0.01, 'c', energy_deviation_per_atom=0.001),  # accurate on both
        frame(1, 0.01, 'c', energy_deviation_per_atom=0.02),  # candidate by energy alone
        frame(2, 0.01, 'c', energy_deviation_per_atom=0.5),  # failed by energy
    ]
    results, _ = run(frames, trust_levels={'energy_trust_lo': 0.01, 'energy_trust_hi': 0.1})
    assert list(results['structures']) == ['candidate_00001']
    counts = results['statistics']['per_condition']['c']
    assert (counts['accurate'], counts['candidate'], counts['failed']) == (1, 1, 1)


def test_zero_candidates_is_a_normal_outcome(aiida_profile):
    frames = [frame(i, 0.01, 'Si8_T300_P0') for i in range(5)]
    results, node = run(frames)
    assert node.is_finished_ok
    assert dict(results['structures']) == {}
    assert 'selected' not in results
    statistics = results['statistics'].get_dict()
    assert statistics['num_candidates'] == 0 and statistics['num_selected'] == 0
    assert statistics['converged'] is True
    assert statistics['per_condition']['Si8_T300_P0']['accurate_fraction'] == 1.0


def test_frames_without_deviations_or_condition_are_refused(aiida_profile):
    bare = BASE.copy()
    bare.info['condition'] = 'c'
    with pytest.raises(ValueError, match='no `max_force_deviation`'):
        run([frame(0, 0.1, 'c'), bare])
    nameless = frame(1, 0.1, 'c')
    del nameless.info['condition']
    with pytest.raises(ValueError, match='no `condition`'):
        run([nameless])


@pytest.mark.parametrize(
    ('parameters', 'match'),
    [
        ({'force_trust_lo': 0.15, 'force_trust_hi': 0.15}, r'lo \(0.15\) must be smaller than hi'),
        ({'force_trust_lo': 0.3, 'force_trust_hi': 0.1}, 'must be smaller than hi'),
        ({'force_trust_lo': -0.1}, 'must be non-negative'),
        ({'max_selected': 0}, 'max_selected must be at least 1'),
        ({'duplicate_threshold': -1.0}, 'duplicate_threshold must be a non-negative'),
        ({'energy_trust_lo': 0.01}, 'give both energy_trust_lo and energy_trust_hi'),
        ({'trust_lo': 0.05}, r"unknown trust level key\(s\) \['trust_lo'\]"),
        ({'method': 'kmeans'}, 'method must be one of'),
    ],
)
def test_bad_parameters_are_refused(aiida_profile, parameters, match):
    # Trust levels go to their own input, the rest to `parameters`, as the loop passes them.
    trust_levels = {key: value for key, value in parameters.items() if 'trust' in key}
    rest = {key: value for key, value in parameters.items() if 'trust' not in key}
    with pytest.raises(ValueError, match=match):
        run([frame(0, 0.1, 'c')], rest, trust_levels=trust_levels)


def test_shared_settings_inside_parameters_are_refused(aiida_profile):
    with pytest.raises(ValueError, match=r"may not set \['force_trust_lo', 'min_accurate_fraction'\]"):
        run([frame(0, 0.1, 'c')], {'force_trust_lo': 0.05, 'min_accurate_fraction': 0.8})


def test_explicit_fraction_and_budget_inputs(aiida_profile):
    # 8 accurate + 2 candidates (fraction 0.8): converged at 0.8, not at the default 0.9; a budget of 1 caps
    # max_selected (50).
    frames = [frame(i, 0.01, 'c') for i in range(8)] + [frame(8, 0.1, 'c'), frame(9, 0.12, 'c')]
    lenient = run(frames, min_accurate_fraction=orm.Float(0.8))[0]['statistics'].get_dict()
    assert lenient['converged'] is True and lenient['parameters']['min_accurate_fraction'] == 0.8
    assert lenient['num_selected'] == 2
    statistics = run(frames, budget=orm.Int(1))[0]['statistics'].get_dict()
    assert statistics['converged'] is False and statistics['parameters']['min_accurate_fraction'] == 0.9
    assert statistics['num_candidates'] == 2 and statistics['num_selected'] == 1
    with pytest.raises(ValueError, match='budget must be at least 1'):
        run(frames, budget=orm.Int(0))
