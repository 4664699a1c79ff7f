"""The calcfunction that picks explored frames for labelling: trust window, diversity, budget."""

from __future__ import annotations

from dataclasses import replace

from aiida import orm
from aiida.engine import calcfunction

from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.science.candidates import select_candidates_from_frames
from aiida_mlipgen.science.selection import parse_selection_parameters


def candidate_key(index: int) -> str:
    """Link label of the selected frame ``index`` of the explored dataset: ``candidate_00012``."""
    return f'candidate_{index:05d}'


@calcfunction
def select_candidates(
    explored: DatasetData,
    parameters: orm.Dict,
    training: DatasetData | None = None,
    trust_levels: orm.Dict | None = None,
    min_accurate_fraction: orm.Float | None = None,
    force_trust_lo_per_structure: orm.Dict | None = None,
    budget: orm.Int | None = None,
) -> dict:
    """Choose the explored frames to label with DFT next.

    :param explored: frames with ``max_force_deviation`` (eV/A), optionally ``energy_deviation_per_atom``
        (eV/atom) and ``stress_deviation`` (eV/A^3), and ``condition`` in their info.
    :param parameters: selection parameters, see
        :func:`~aiida_mlipgen.science.selection.parse_selection_parameters` (``max_selected``,
        ``duplicate_threshold``, ``method``, ``seed``, ``descriptor``).
    :param training: optional current training set; candidates that near-duplicate its frames are skipped.
    :param trust_levels: the trust windows (keys of :class:`~aiida_mlipgen.science.contract.TrustLevels`;
        default DP-GEN's 0.05/0.15 eV/A force window), the same that exploration used.
    :param min_accurate_fraction: accurate fraction every condition needs for ``converged`` (default 0.9).
    :param force_trust_lo_per_structure: exploration structure -> its own fitted lower force level (eV/A).
    :param budget: at most this many frames are selected (the DFT labels left), below ``max_selected``.
    :return: ``structures`` (namespace of StructureData keyed ``candidate_<explored frame index>``, possibly
        empty), ``statistics`` (Dict: per-condition classes, overall, ``converged``, histogram, counts, the
        parameters with defaults) and, when a frame was selected, ``selected`` (DatasetData of the chosen
        frames in the order they were picked, info kept plus ``source_index``, ``candidate_key`` and
        ``selection_rank``; model predictions are dropped, so it cannot pass for labelled data).
    :raises ValueError: on bad parameters or frames without deviations or condition.
    """
    settings = parse_selection_parameters(
        parameters.get_dict(),
        trust_levels=trust_levels.get_dict() if trust_levels is not None else None,
        **({'min_accurate_fraction': min_accurate_fraction.value} if min_accurate_fraction is not None else {}),
        force_trust_lo_per_structure=(
            force_trust_lo_per_structure.get_dict() if force_trust_lo_per_structure is not None else None
        ),
    )
    if budget is not None:
        if budget.value < 1:
            raise ValueError(f'budget must be at least 1 frame, got {budget.value}')
        settings = replace(settings, max_selected=min(settings.max_selected, budget.value))
    frames = explored.get_atoms()
    training_frames = training.get_atoms() if training is not None else None
    selection = select_candidates_from_frames(frames, settings, training_frames)

    structures = {}
    chosen = []
    for rank, index in enumerate(selection.selected):
        atoms = frames[index].copy()  # copy() drops the calculator, hence any committee prediction
        key = candidate_key(index)
        structures[key] = orm.StructureData(ase=atoms)
        atoms.info.update({'source_index': index, 'candidate_key': key, 'selection_rank': rank})
        chosen.append(atoms)

    outputs = {'structures': structures, 'statistics': orm.Dict(selection.statistics)}
    if chosen:
        outputs['selected'] = DatasetData(chosen)
    return outputs
