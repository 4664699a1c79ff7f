"""Tests of trust-window classification, statistics and diverse selection (hand-computed answers)."""

import numpy as np
import pytest
from ase.build import bulk

from aiida_mlipgen.science.contract import TrustLevels, TrustWindow, validate_trust_window
from aiida_mlipgen.science.descriptors import descriptor_matrix
from aiida_mlipgen.science.deviations import frame_deviation
from aiida_mlipgen.science.generators import rattled_copies, volume_strained_copies
from aiida_mlipgen.science.selection import (
    class_counts,
    classify_deviations,
    classify_frames,
    deviation_histogram,
    farthest_point_sampling,
    is_converged,
    random_selection,
    statistics_by_condition,
)


def test_force_window_classes_below_inside_and_above():
    # Default window [0.05, 0.15) eV/A; the edges belong to the upper class.
    deviations = [0.0, 0.049, 0.05, 0.1, 0.1499, 0.15, 3.0, float('nan'), float('inf')]
    assert classify_deviations(deviations) == [
        'accurate',
        'accurate',
        'candidate',
        'candidate',
        'candidate',
        'failed',
        'failed',
        'failed',
        'failed',
    ]


def test_energy_window_makes_a_candidate_and_a_failure():
    criteria = TrustLevels(force=TrustWindow(0.05, 0.15), energy_per_atom=TrustWindow(0.005, 0.05))
    forces = [0.01, 0.01, 0.01, 0.10, 0.10]
    energies = [0.001, 0.010, 0.100, 0.001, 0.100]
    # accurate/accurate; accurate/candidate; accurate/failed; candidate/accurate; candidate/failed
    assert classify_deviations(forces, criteria, energy_deviation_per_atom=energies) == [
        'accurate',
        'candidate',
        'failed',
        'candidate',
        'failed',
    ]


def test_stress_window_is_in_gpa():
    # 0.01 eV/A^3 = 1.602 GPa: inside [1, 2) GPa; 0.001 eV/A^3 = 0.16 GPa: below.
    criteria = TrustLevels(stress=TrustWindow(1.0, 2.0))
    classes = classify_deviations([0.01, 0.01, 0.01], criteria, stress_deviation=[0.001, 0.01, 0.02])
    assert classes == ['accurate', 'candidate', 'failed']


def test_classify_frames_from_committee_predictions():
    # Two members disagree by +-d on one atom along x: per-atom deviation = d.
    def frame(d):
        forces = np.zeros((2, 3, 3))
        forces[0, 1, 0], forces[1, 1, 0] = d, -d
        return frame_deviation(np.array([-10.0, -10.0]), forces)

    assert classify_frames([frame(0.01), frame(0.1), frame(0.3)]) == ['accurate', 'candidate', 'failed']


def test_enabled_window_without_values_is_an_error():
    criteria = TrustLevels(stress=TrustWindow(1.0, 2.0))
    with pytest.raises(ValueError, match='no stress_deviation was given'):
        classify_deviations([0.1], criteria)
    with pytest.raises(ValueError, match='no frame has a finite stress_deviation'):
        classify_deviations([0.1, 0.1], criteria, stress_deviation=[np.nan, np.nan])
    with pytest.raises(ValueError, match='one value per frame'):
        classify_deviations([0.1, 0.1], criteria, stress_deviation=[0.1])


@pytest.mark.parametrize(
    ('lo', 'hi', 'match'),
    [
        (0.15, 0.05, 'smaller than hi'),
        (0.1, 0.1, 'smaller than hi'),
        (-0.1, 0.1, 'non-negative'),
        (0.0, float('nan'), 'finite'),
        ('0.1', 0.2, 'number'),
    ],
)
def test_validate_trust_window_rejects(lo, hi, match):
    with pytest.raises(ValueError, match=match):
        validate_trust_window(lo, hi)
    with pytest.raises(ValueError, match=match):
        TrustWindow(lo, hi)


def test_validate_trust_window_accepts_zero_lo():
    validate_trust_window(0, 0.1)


def test_statistics_by_condition_and_convergence():
    classes = ['accurate'] * 9 + ['candidate'] + ['accurate', 'failed', 'candidate', 'accurate']
    conditions = ['300K'] * 10 + ['1000K'] * 4
    statistics = statistics_by_condition(classes, conditions)
    assert list(statistics) == ['1000K', '300K', 'all']
    assert statistics['300K'] == {
        'total': 10,
        'accurate': 9,
        'accurate_fraction': 0.9,
        'candidate': 1,
        'candidate_fraction': 0.1,
        'failed': 0,
        'failed_fraction': 0.0,
    }
    assert statistics['1000K']['accurate_fraction'] == 0.5
    assert statistics['1000K']['failed'] == 1
    assert statistics['all']['total'] == 14
    assert statistics['all']['accurate'] == 11
    assert not is_converged(statistics)
    assert is_converged({'300K': statistics['300K']})
    assert is_converged(statistics, min_accurate_fraction=0.5)


def test_statistics_reject_bad_input():
    with pytest.raises(ValueError, match='unknown classes'):
        class_counts(['good'])
    with pytest.raises(ValueError, match='condition labels'):
        statistics_by_condition(['accurate'], [])
    with pytest.raises(ValueError, match='reserved'):
        statistics_by_condition(['accurate'], ['all'])
    with pytest.raises(ValueError, match='no per-condition'):
        is_converged({'all': class_counts(['accurate'])})


def test_deviation_histogram():
    histogram = deviation_histogram([0.01, 0.06, 0.07, 0.2, 0.5, np.nan], bin_edges=[0.0, 0.05, 0.15, 0.3])
    assert histogram == {
        'bin_edges': [0.0, 0.05, 0.15, 0.3],
        'counts': [1, 2, 1],
        'underflow': 0,
        'overflow': 1,
        'non_finite': 1,
    }
    automatic = deviation_histogram([0.0, 0.1, 0.2, 0.4], num_bins=4)
    assert automatic['bin_edges'] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert automatic['counts'] == [1, 1, 1, 1]
    with pytest.raises(ValueError, match='increasing'):
        deviation_histogram([0.1], bin_edges=[0.2, 0.1])


def test_fps_on_a_line_picks_the_ends_first():
    points = np.linspace(0.0, 10.0, 11).reshape(-1, 1)
    selected = farthest_point_sampling(points, max_selected=3)
    assert sorted(selected[:2]) == [0, 10]
    assert selected[2] == 5


def test_fps_from_a_start_and_with_a_budget():
    points = np.linspace(0.0, 10.0, 11).reshape(-1, 1)
    assert farthest_point_sampling(points, max_selected=3, start=4) == [4, 10, 0]
    assert len(farthest_point_sampling(points, max_selected=100)) == 11
    assert farthest_point_sampling(points, max_selected=0) == []


def test_fps_skips_near_duplicates_of_picks_and_of_the_training_set():
    # Pairs of near-duplicates (0.01 apart) at 0, 5 and 10; a training frame sits at 10.
    values = [0.0, 0.01, 5.0, 5.01, 10.0, 10.01]
    points = np.array(values).reshape(-1, 1)
    selected = farthest_point_sampling(points, max_selected=10, duplicate_threshold=0.1)
    assert len(selected) == 3
    assert sorted(round(values[index]) for index in selected) == [0, 5, 10]

    with_training = farthest_point_sampling(
        points, max_selected=10, training=np.array([[10.0]]), duplicate_threshold=0.1
    )
    assert with_training == [0, 2]  # farthest from the training frame first; nothing near 10


def test_fps_never_picks_exact_copies():
    points = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    assert sorted(farthest_point_sampling(points, max_selected=3)) == [0, 2]


def test_fps_returns_nothing_when_all_candidates_duplicate_the_training_set():
    points = np.array([[0.0], [0.05]])
    assert farthest_point_sampling(points, 5, training=np.array([[0.0], [0.06]]), duplicate_threshold=0.1) == []


def test_fps_rejects_bad_input():
    points = np.zeros((3, 2))
    with pytest.raises(ValueError, match='max_selected'):
        farthest_point_sampling(points, -1)
    with pytest.raises(ValueError, match='duplicate_threshold'):
        farthest_point_sampling(points, 1, duplicate_threshold=-1)
    with pytest.raises(ValueError, match='descriptor length'):
        farthest_point_sampling(points, 1, training=np.zeros((1, 3)))
    with pytest.raises(ValueError, match='start'):
        farthest_point_sampling(points, 1, start=3)
    with pytest.raises(ValueError, match='non-finite'):
        farthest_point_sampling(np.array([[np.nan]]), 1)


def test_random_selection_is_seeded_and_distinct():
    first = random_selection(100, 10, seed=1)
    assert first == random_selection(100, 10, seed=1)
    assert first != random_selection(100, 10, seed=2)
    assert len(set(first)) == 10
    assert all(0 <= index < 100 for index in first)
    assert sorted(random_selection(5, 10, seed=0)) == [0, 1, 2, 3, 4]


def test_criteria_accept_pairs_and_reject_other_values():
    criteria = TrustLevels(force=(0.1, 0.3), stress=[1.0, 2.0])
    assert criteria.force == TrustWindow(0.1, 0.3)
    assert criteria.stress == TrustWindow(1.0, 2.0)
    assert criteria.energy_per_atom is None
    with pytest.raises(ValueError, match='force trust window'):
        TrustLevels(force=None)
    with pytest.raises(ValueError, match='energy_per_atom trust window'):
        TrustLevels(energy_per_atom=0.01)
    with pytest.raises(ValueError, match='smaller than hi'):
        TrustLevels(force=(0.3, 0.1))


def test_fps_on_descriptors_picks_distinct_structures_once():
    # Ten copies of one cell rattled by 1e-4 A and two cells strained by -8 % and +8 % in volume:
    # with a duplicate threshold above the rattle noise, FPS picks one of the ten and both strained.
    seed = bulk('Si', 'diamond', a=5.43)
    frames = rattled_copies(seed, [1e-4], copies_per_amplitude=10, seed=0)
    frames += volume_strained_copies(seed, [-8.0, 8.0])
    descriptors = descriptor_matrix(frames)
    noise = max(np.linalg.norm(descriptors[i] - descriptors[0]) for i in range(10))
    selected = farthest_point_sampling(descriptors, max_selected=12, duplicate_threshold=10 * noise)
    assert sorted(selected)[-2:] == [10, 11]
    assert len(selected) == 3


def test_a_fitted_lower_level_applies_to_its_own_structure_only():
    from aiida_mlipgen.science.candidates import select_candidates_from_frames
    from aiida_mlipgen.science.selection import parse_selection_parameters

    frames = []
    for structure in ('fitted', 'default'):
        for index in range(3):
            atoms = bulk('Si', 'diamond', a=5.43 + 0.01 * index)
            atoms.info.update(structure=structure, condition=f'{structure}_300K', max_force_deviation=0.08)
            frames.append(atoms)
    parameters = parse_selection_parameters(
        {}, {'force_trust_lo': 0.05, 'force_trust_hi': 0.3}, force_trust_lo_per_structure={'fitted': 0.1}
    )
    selection = select_candidates_from_frames(frames, parameters)
    assert selection.classes == ['accurate'] * 3 + ['candidate'] * 3
    assert parameters.as_dict()['force_trust_lo_per_structure'] == {'fitted': 0.1}
    with pytest.raises(ValueError, match='structure `fitted`'):
        parse_selection_parameters({}, {'force_trust_hi': 0.3}, force_trust_lo_per_structure={'fitted': 0.4})
