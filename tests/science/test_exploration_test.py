"""The exploration test set's draw: per condition, at random, never failed or excluded frames."""

import pytest

from aiida_mlipgen.science.exploration_test import ExplorationTestSettings, draw_test_frames


def test_draws_per_condition_and_never_failed_or_excluded_frames():
    conditions = ['a'] * 6 + ['b'] * 4
    classes = [
        'accurate',
        'candidate',
        'failed',
        'accurate',
        'candidate',
        'accurate',
        'failed',
        'accurate',
        'failed',
        'candidate',
    ]
    drawn = draw_test_frames(conditions, classes, per_condition=2, seed=1, excluded=[0, 1])
    assert len(drawn) == 4
    assert sum(conditions[index] == 'a' for index in drawn) == 2
    assert not {0, 1, 2, 6, 8} & set(drawn)
    # condition b has exactly two eligible frames: both drawn
    assert {7, 9} <= set(drawn)


def test_the_draw_depends_on_the_seed_not_on_deviation():
    conditions = ['a'] * 50
    classes = ['accurate'] * 50
    draws = {tuple(draw_test_frames(conditions, classes, 3, seed)) for seed in range(5)}
    assert len(draws) > 1


def test_first_iterations_top_up_to_the_minimum():
    settings = ExplorationTestSettings(per_condition=2, min_frames=20)
    assert settings.frames_per_condition(existing=0, num_conditions=3) == 7
    assert settings.frames_per_condition(existing=21, num_conditions=3) == 2
    assert ExplorationTestSettings(per_condition=0).frames_per_condition(0, 3) == 0


@pytest.mark.parametrize('values', [{'per_condition': -1}, {'size': 3}, {'min_frames': 2.5}])
def test_bad_settings_are_refused(values):
    with pytest.raises(ValueError, match='exploration_test'):
        ExplorationTestSettings.from_dict(values)
