"""Choose the explored frames to label: trust-window classification, then a diverse subset within a budget.

The frames come from exploration with their committee deviations in ``atoms.info`` (keys of
:class:`~.deviations.FrameDeviation`: ``max_force_deviation`` eV/A, ``energy_deviation_per_atom``
eV/atom, ``stress_deviation`` eV/A^3) and the exploration ``condition`` they were sampled under
(:func:`~.contract.condition_label`, such as ``'si8_1500K'``). :func:`select_candidates_from_frames`
classifies them with :mod:`.selection`'s rule, drops candidates that are near-duplicates of the training set, fills the
budget by farthest-point sampling (or DP-GEN's random cut) and reports statistics per condition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from ase import Atoms

from .contract import (
    CANDIDATE,
    CONDITION_KEY,
    ENERGY_DEVIATION_PER_ATOM,
    FORCE_DEVIATION_PER_ATOM,
    MAX_FORCE_DEVIATION,
    STRESS_DEVIATION,
    STRUCTURE_KEY,
)
from .descriptors import DescriptorSettings, atom_descriptors, descriptor_matrix
from .selection import (
    SelectionParameters,
    classify_deviations,
    deviation_histogram,
    farthest_point_sampling,
    is_converged,
    random_selection,
    statistics_by_condition,
)

#: Bins of the max-force-deviation histogram per force window hi: 20 bins on [0, 2 hi].
HISTOGRAM_BINS = 20


@dataclass(frozen=True)
class CandidateSelection:
    """Outcome of a selection over explored frames (indices are positions in the explored list).

    :param classes: class of every frame (``accurate``, ``candidate``, ``failed``).
    :param candidates: indices of the candidate frames.
    :param duplicates_of_training: candidates within ``duplicate_threshold`` of a training frame.
    :param selected: indices of the frames to label, in the order they were picked.
    :param statistics: JSON-ready summary, see :func:`select_candidates_from_frames`.
    """

    classes: list[str]
    candidates: list[int]
    duplicates_of_training: list[int]
    selected: list[int]
    statistics: dict


def _info_values(frames: Sequence[Atoms], key: str, unit: str) -> np.ndarray:
    missing = [index for index, atoms in enumerate(frames) if key not in atoms.info]
    if missing:
        shown = ', '.join(str(index) for index in missing[:10]) + (' ...' if len(missing) > 10 else '')
        raise ValueError(f'{len(missing)} explored frame(s) have no `{key}` ({unit}) in their info: frames {shown}')
    values = []
    for index, atoms in enumerate(frames):
        value = atoms.info[key]
        try:
            values.append(float(value))
        except (TypeError, ValueError) as exception:
            raise ValueError(f'frame {index}: `{key}` must be a number, got {value!r}') from exception
    return np.asarray(values, dtype=float)


def frame_conditions(frames: Sequence[Atoms]) -> list[str]:
    """The exploration condition of every frame, from ``atoms.info['condition']``.

    :raises ValueError: when a frame has none.
    """
    missing = [index for index, atoms in enumerate(frames) if CONDITION_KEY not in atoms.info]
    if missing:
        raise ValueError(
            f'{len(missing)} explored frame(s) have no `{CONDITION_KEY}` in their info (e.g. frame {missing[0]}): '
            'convergence is judged per exploration condition'
        )
    return [str(atoms.info[CONDITION_KEY]) for atoms in frames]


def _distance_to_set(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Euclidean distance of every row of ``points`` to its nearest row of ``reference`` (inf if none)."""
    distances = np.full(points.shape[0], np.inf)
    for row in reference:
        np.minimum(distances, np.linalg.norm(points - row, axis=1), out=distances)
    return distances


def _classify(
    frames: Sequence[Atoms],
    parameters: SelectionParameters,
    forces: np.ndarray,
    energies: np.ndarray | None,
    stresses: np.ndarray | None,
) -> list[str]:
    """Classes of the frames, each under the force window of the structure it was explored from."""
    if not parameters.force_trust_lo_per_structure:
        return classify_deviations(
            forces, parameters.trust_levels, energy_deviation_per_atom=energies, stress_deviation=stresses
        )
    structures = [atoms.info.get(STRUCTURE_KEY) for atoms in frames]
    classes: list[str] = [''] * len(frames)
    for structure in set(structures):
        indices = [index for index, name in enumerate(structures) if name == structure]
        criteria = replace(parameters.trust_levels, force=parameters.force_window(structure))
        group = classify_deviations(
            forces[indices],
            criteria,
            energy_deviation_per_atom=None if energies is None else energies[indices],
            stress_deviation=None if stresses is None else stresses[indices],
        )
        for index, name in zip(indices, group, strict=True):
            classes[index] = name
    return classes


def uncertain_environments(
    candidates: Sequence[Atoms], training_frames: Sequence[Atoms], settings: DescriptorSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Descriptors of each candidate's atom of largest force deviation, and of every training-set atom.

    The per-atom deviations are ``atoms.arrays['force_deviation']`` (eV/A), which exploration writes.
    A candidate then counts as covered when the training set holds an atom in an environment like its
    most uncertain one, wherever that atom sits in its own cell.

    :raises ValueError: when a candidate carries no per-atom force deviations.
    """
    points = []
    for atoms in candidates:
        if FORCE_DEVIATION_PER_ATOM not in atoms.arrays:
            raise ValueError(
                f"descriptor_of 'max_deviation_atom' needs per-atom force deviations "
                f"(atoms.arrays['{FORCE_DEVIATION_PER_ATOM}']) on every explored frame; frame of condition "
                f"{atoms.info.get(CONDITION_KEY)!r} has none (use descriptor_of 'frame')"
            )
        worst = int(np.nanargmax(np.asarray(atoms.arrays[FORCE_DEVIATION_PER_ATOM], dtype=float).reshape(-1)))
        points.append(atom_descriptors(atoms, settings, [worst])[0])
    reference = [atom_descriptors(atoms, settings) for atoms in training_frames]
    return np.array(points), (np.concatenate(reference) if reference else np.zeros((0, settings.length)))


def select_candidates_from_frames(
    frames: Sequence[Atoms],
    parameters: SelectionParameters,
    training_frames: Sequence[Atoms] | None = None,
) -> CandidateSelection:
    """Classify explored frames and choose at most ``parameters.max_selected`` candidates to label.

    Candidates within ``duplicate_threshold`` (descriptor distance) of a training frame are never
    chosen. With ``method='fps'`` the budget is filled by farthest-point sampling, with the training
    set counted as already covered and near-duplicates among the picks skipped (so fewer than the
    budget may come back); with ``method='random'`` it is a seeded random cut of the remaining
    candidates (the DP-GEN baseline). Descriptors are computed for the candidates and the training
    frames only.

    :param frames: explored frames with deviations and ``condition`` in their info.
    :param parameters: from :func:`~.selection.parse_selection_parameters`.
    :param training_frames: optional current training set.
    :return: the selection; ``statistics`` holds ``per_condition`` (counts and fractions of each class),
        ``overall``, ``converged`` (DPGEN2's rule at ``min_accurate_fraction``), the candidate, duplicate
        and selected counts, a histogram of the max force deviation on [0, 2 hi] (eV/A) and the
        parameters used.
    :raises ValueError: on an empty frame list, a missing deviation or condition.
    """
    frames = list(frames)
    if not frames:
        raise ValueError('there are no explored frames to select from')
    criteria = parameters.trust_levels
    forces = _info_values(frames, MAX_FORCE_DEVIATION, 'eV/A')
    energies = _info_values(frames, ENERGY_DEVIATION_PER_ATOM, 'eV/atom') if criteria.energy_per_atom else None
    stresses = _info_values(frames, STRESS_DEVIATION, 'eV/A^3') if criteria.stress else None
    conditions = frame_conditions(frames)
    classes = _classify(frames, parameters, forces, energies, stresses)
    candidates = [index for index, name in enumerate(classes) if name == CANDIDATE]

    training_frames = list(training_frames or [])
    duplicates: list[int] = []
    selected: list[int] = []
    if candidates:
        candidate_frames = [frames[index] for index in candidates]
        settings = DescriptorSettings.for_frames(
            candidate_frames + training_frames, **dict(parameters.descriptor or {})
        )
        if parameters.descriptor_of == 'max_deviation_atom':
            points, reference = uncertain_environments(candidate_frames, training_frames, settings)
        else:
            points = descriptor_matrix(candidate_frames, settings)
            reference = descriptor_matrix(training_frames, settings)
        near_training = _distance_to_set(points, reference) <= parameters.duplicate_threshold
        duplicates = [index for index, near in zip(candidates, near_training, strict=True) if near]
        if parameters.method == 'fps':
            picks = farthest_point_sampling(
                points,
                parameters.max_selected,
                training=reference if len(training_frames) else None,
                duplicate_threshold=parameters.duplicate_threshold,
            )
            selected = [candidates[pick] for pick in picks]
        else:
            remaining = [index for index, near in zip(candidates, near_training, strict=True) if not near]
            picks = random_selection(len(remaining), parameters.max_selected, parameters.seed)
            selected = [remaining[pick] for pick in picks]

    per_condition = statistics_by_condition(classes, conditions)
    overall = per_condition.pop('all')
    hi = criteria.force.hi
    statistics = {
        'num_frames': len(frames),
        'num_candidates': len(candidates),
        'num_duplicates_of_training': len(duplicates),
        'num_selected': len(selected),
        'num_training_frames': len(training_frames),
        'per_condition': per_condition,
        'overall': overall,
        'converged': is_converged(per_condition, min_accurate_fraction=parameters.min_accurate_fraction),
        'max_force_deviation_histogram': deviation_histogram(
            forces, bin_edges=np.linspace(0.0, 2 * hi, HISTOGRAM_BINS + 1)
        ),
        'parameters': parameters.as_dict(),
    }
    return CandidateSelection(
        classes=classes,
        candidates=candidates,
        duplicates_of_training=duplicates,
        selected=selected,
        statistics=statistics,
    )
