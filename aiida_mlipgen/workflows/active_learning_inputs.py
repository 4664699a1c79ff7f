"""Input checks of the active-learning loop, run before anything is submitted."""

from __future__ import annotations

from aiida_mlipgen.science.calibration import adaptive_settings
from aiida_mlipgen.science.contract import TRUST_KEYS
from aiida_mlipgen.science.convergence import StoppingCriteria
from aiida_mlipgen.science.exploration_test import ExplorationTestSettings
from aiida_mlipgen.science.initial_set import InitialSetRecipe
from aiida_mlipgen.science.selection import parse_selection_parameters
from aiida_mlipgen.science.splitting import shared_frames
from aiida_mlipgen.workflows.active_learning_checks import check_loop_inputs, check_loop_structures


def stopping_criteria(inputs) -> StoppingCriteria:
    """The stopping rules from the loop's inputs (raises ValueError for bad values)."""

    def optional(name):
        return inputs[name].value if name in inputs else None

    return StoppingCriteria(
        min_accurate_fraction=inputs['min_accurate_fraction'].value,
        target_force_rmse=optional('target_force_rmse'),
        max_iterations=inputs['max_iterations'].value,
        max_dft_calls=optional('max_dft_calls'),
        max_dft_core_hours=optional('max_dft_core_hours'),
    )


def check_start(inputs) -> str | None:
    """Either seed structures (a new loop) or a labelled training set (continuing a loop) must be given."""
    has_seeds = bool(inputs.get('seed_structures'))
    has_training = 'training_dataset' in inputs
    if not has_seeds and not has_training:
        return 'give `seed_structures` to start a loop, or `training_dataset` (and `test_dataset`) to continue one.'
    if has_training:
        if not inputs['training_dataset'].base.attributes.get('has_forces', False):
            return '`training_dataset` must be labelled (energy, forces): it is the training set of a previous loop.'
        if 'test_dataset' not in inputs:
            return 'continuing from a `training_dataset` needs the fixed held-out `test_dataset` of that loop.'
    if not has_seeds and not inputs.get('exploration_structures'):
        return 'without `seed_structures`, give `exploration_structures` to start the MD from.'
    return None


def check_test_set(inputs) -> str | None:
    """The held-out test sets must be labelled and share no frame with the training or validation set."""
    for test_name in ('test_dataset', 'exploration_test_dataset'):
        test = inputs.get(test_name)
        if test is None:
            continue
        if not test.base.attributes.get('has_forces', False):
            return f'`{test_name}` must be labelled (energy, forces) to measure test errors.'
        for name in ('training_dataset', 'validation_dataset'):
            if name in inputs:
                shared = shared_frames(test.get_atoms(), inputs[name].get_atoms())
                if shared:
                    return (
                        f'`{test_name}` shares {len(shared)} frame(s) with `{name}` (e.g. test frame {shared[0][0]} = '
                        f'frame {shared[0][1]}): a held-out test set must never be trained or validated on.'
                    )
    return None


def check_settings(inputs) -> str | None:
    """Stopping rules, trust levels, selection parameters, initial-set recipe, split and schedule."""
    try:
        stopping_criteria(inputs)
        selection = parse_selection_parameters(
            inputs['selection'].get_dict(), inputs['trust_levels'].get_dict(), inputs['min_accurate_fraction'].value
        )
        InitialSetRecipe.from_dict(inputs['initial_set'].get_dict())
        ExplorationTestSettings.from_dict(inputs['exploration_test'].get_dict())
        adaptive_settings(inputs['adaptive_trust'].get_dict(), selection.trust_levels.force.hi)
    except (ValueError, TypeError) as exception:
        return str(exception)
    split = inputs['split'].get_dict()
    if set(split) != {'train', 'validation', 'test'} or any(value < 0 for value in split.values()):
        return f'`split` needs non-negative `train`, `validation` and `test` fractions, got {split}.'
    if abs(sum(split.values()) - 1) > 1e-9 or split['train'] <= 0:
        return f'`split` fractions must sum to 1 with a positive train fraction, got {split}.'
    schedule = inputs['exploration_schedule'].get_list() if 'exploration_schedule' in inputs else []
    if any(not isinstance(entry, dict) for entry in schedule):
        return '`exploration_schedule` must be a list of dicts of exploration conditions, one per iteration.'
    shared = sorted({key for entry in schedule for key in entry} & set(TRUST_KEYS))
    if shared:
        return (
            f'`exploration_schedule` may not set {shared}: one set of `trust_levels` serves exploration and '
            'selection in every iteration.'
        )
    if inputs['retrain_from_scratch_every'].value < 0:
        return '`retrain_from_scratch_every` must be >= 0 (0: always warm start).'
    return None


def check_labeller(inputs) -> str | None:
    """Exactly one labeller: DFT (``label``) or a teacher (``teacher_label``)."""
    given = [name for name in ('label', 'teacher_label') if name in inputs]
    if len(given) != 1:
        return (
            'give exactly one labeller: `label` (Quantum ESPRESSO) or `teacher_label` (a teacher calculator), '
            f'got {given or "neither"}.'
        )
    benchmark = inputs.get('benchmark') or {}
    if 'teacher_label' in inputs and ({'eos', 'phonons'} & set(benchmark)):
        return (
            'the benchmark compares EOS and phonons with DFT through the `label` settings: a loop labelled by a '
            'teacher can benchmark test errors and NVE only.'
        )
    return None


def validate_inputs(inputs, _) -> str | None:
    """Refuse a loop that cannot run or would corrupt its test set, before anything is submitted."""
    return (
        check_labeller(inputs)
        or check_loop_structures(inputs)
        or check_start(inputs)
        or check_settings(inputs)
        or check_test_set(inputs)
        or check_loop_inputs(inputs)
    )
