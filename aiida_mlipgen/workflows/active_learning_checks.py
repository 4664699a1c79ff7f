"""Checks of the loop's structures, labeller and given datasets, run before the loop submits anything.

The labeller's own validator cannot see the frames inside the loop (the loop sets them iteration by
iteration), so the loop checks here what would otherwise fail at the first labelling, deep in a run: a
seed with overlapping atoms, an element without a pseudopotential, an explicit k-point mesh for frames of
changing cells, and datasets of a loop being continued whose labels were computed with other settings.
"""

from __future__ import annotations

from aiida_mlipgen.calculations.evaluate import committee_species
from aiida_mlipgen.calculations.teacher_label import teacher_settings
from aiida_mlipgen.workflows.input_checks import check_codes, check_structures
from aiida_mlipgen.workflows.labelling_inputs import check_pseudos, check_reference, settings_of_inputs

#: Structure ports of the loop; both seed MD and DFT.
STRUCTURE_PORTS = ('seed_structures', 'exploration_structures')
#: Labelled datasets of a loop being continued; training and validation labels are trained on.
TRAINED_DATASETS = ('training_dataset', 'validation_dataset')
TEST_DATASETS = ('test_dataset', 'exploration_test_dataset')


def loop_species(inputs) -> set[str]:
    """Every element the loop will label: of the seeds, the exploration structures and the given datasets."""
    species = set()
    for port in STRUCTURE_PORTS:
        for structure in (inputs.get(port) or {}).values():
            species |= {kind.symbol for kind in structure.kinds}
    for port in TRAINED_DATASETS + TEST_DATASETS:
        if port in inputs:
            species |= set(inputs[port].species or [])
    return species


def check_loop_structures(inputs) -> str | None:
    """Seeds and exploration structures with atoms, a cell and no overlapping atoms; no empty dataset."""
    for port in STRUCTURE_PORTS:
        message = check_structures(inputs.get(port), port)
        if message:
            return message
    for port in TRAINED_DATASETS + TEST_DATASETS:
        if port in inputs and not inputs[port].num_frames:
            return f'`{port}` is empty: give the dataset of a finished loop, or leave the port out.'
    return None


def labeller_settings(inputs) -> dict | None:
    """The labelling-settings fingerprint of the loop's labeller (DFT or teacher), or None if incomplete."""
    if 'label' in inputs:
        label = inputs['label']
        if 'pw' not in label or 'pseudos' not in label or 'parameters' not in label['pw'].get('pw', {}):
            return None
        return settings_of_inputs(label)
    calculator = inputs.get('teacher_label', {}).get('teacher', {}).get('calculator')
    return teacher_settings(calculator.get_dict()) if calculator is not None else None


def check_loop_labeller(inputs) -> str | None:
    """The labeller as it will label every frame of the loop: pseudos for every element, one k-point density."""
    label = inputs.get('label')
    if label is None:
        return None
    if 'pseudos' in label:
        message = check_pseudos(loop_species(inputs), label['pseudos'])
        if message:
            return f'`label`: {message}'
    if 'kpoints' in label.get('pw', {}):
        return (
            '`label.pw.kpoints`: an explicit k-point mesh would label the strained and NPT frames of the loop, whose '
            'cells differ, at different k-point densities; give `label.pw.kpoints_distance` instead.'
        )
    return None


def check_continued_datasets(inputs) -> str | None:
    """Datasets of a loop being continued must be labelled with exactly the loop's labelling settings.

    Training and validation labels must record their settings (they are trained on together with the new
    labels); a test set without recorded settings is accepted, one with other settings is refused.
    """
    settings = labeller_settings(inputs)
    if settings is None:
        return None
    for port in TRAINED_DATASETS + TEST_DATASETS:
        dataset = inputs.get(port)
        if dataset is None:
            continue
        recorded = dataset.labelling_settings
        if recorded is None:
            if port in TRAINED_DATASETS:
                return (
                    f'`{port}` records no labelling settings, so its labels cannot be checked against the '
                    "loop's: give the datasets of a finished loop, or a dataset labelled by `LabellingWorkChain`."
                )
            continue
        message = check_reference(settings, recorded)
        if message:
            return f'`{port}`: ' + message.replace('`reference_dataset`', f'`{port}`')
    return None


def iteration_conditions(conditions: dict, entry: dict) -> dict:
    """``explore.conditions`` with one ``exploration_schedule`` entry on top.

    Nested settings merge key by key; ``temperatures_K`` (a list, or a list per structure) is replaced whole,
    so that an entry that names some structures explores those only.
    """
    from aiida_quantumespresso.workflows.protocols.utils import recursive_merge

    merged = recursive_merge(conditions, {key: value for key, value in entry.items() if key != 'temperatures_K'})
    if 'temperatures_K' in entry:
        merged['temperatures_K'] = entry['temperatures_K']
    return merged


def check_exploration(inputs) -> str | None:
    """Every iteration's exploration conditions (``explore.conditions`` with ``exploration_schedule``) checked
    as ``mlipgen-explore`` will check them, on the structures the loop explores from."""
    from types import SimpleNamespace

    from aiida_mlipgen.calculations.explore import check_conditions

    conditions = inputs.get('explore', {}).get('conditions')
    if conditions is None:
        return None
    structures = dict(inputs.get('exploration_structures') or inputs.get('seed_structures') or {})
    # The committee does not exist yet: stand-ins that know every element of the loop.
    committee = {f'member{index}': SimpleNamespace(species=sorted(loop_species(inputs))) for index in range(2)}
    trust_levels = inputs['trust_levels'].get_dict() if 'trust_levels' in inputs else None
    schedule = inputs['exploration_schedule'].get_list() if 'exploration_schedule' in inputs else []
    for index, entry in enumerate([{}, *schedule]):
        merged = iteration_conditions(conditions.get_dict(), entry) if isinstance(entry, dict) else entry
        extra = (trust_levels,) if trust_levels is not None else ()
        message = check_conditions(merged, structures, committee, *extra)
        if message:
            where = f'`exploration_schedule[{index - 1}]`' if index else '`explore.conditions`'
            return f'{where}: {message}'
    return None


def check_parent_models(inputs) -> str | None:
    """A committee to warm-start from must know every element of the loop."""
    models = inputs.get('parent_models') or {}
    if not models:
        return None
    known = set(committee_species(models))
    unknown = sorted(loop_species(inputs) - known)
    if unknown:
        return f'`parent_models` know {sorted(known)} but the loop has {unknown} too: warm start needs every element.'
    return None


def check_loop_inputs(inputs) -> str | None:
    """Labeller, exploration conditions, continued datasets, parent committee and codes, in that order."""
    return (
        check_loop_labeller(inputs)
        or check_exploration(inputs)
        or check_continued_datasets(inputs)
        or check_parent_models(inputs)
        or check_codes(inputs)
    )
