"""Candidate selection: trust windows on committee deviations, statistics, diverse subsets.

Classification (DP-GEN's trust levels, Y. Zhang et al., Comput. Phys. Commun. 253, 107206 (2020); the
windows are :class:`~.contract.TrustLevels`): with a window [lo, hi) on each enabled measure (max force
deviation in eV/A always; energy deviation per atom in eV/atom and stress deviation in GPa optionally),
a frame is

* ``failed`` when any enabled measure is >= its hi, or is not finite (the model blew up),
* ``candidate`` otherwise, when any enabled measure is >= its lo,
* ``accurate`` when every enabled measure is < its lo.

So a frame is a candidate when at least one measure is inside its window and none is above it.

A per-iteration budget is then filled by farthest-point sampling on structural descriptors
(:func:`farthest_point_sampling`), skipping near-duplicates of the training set and of frames
already picked; :func:`random_selection` is the random cut used by DP-GEN and others, kept as
the baseline for benchmarks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from ase import units

from .contract import (
    CLASSES,
    DEFAULT_MIN_ACCURATE_FRACTION,
    MIN_ACCURATE_FRACTION_KEY,
    TRUST_KEYS,
    TrustLevels,
    TrustWindow,
    check_accurate_fraction,
    validate_trust_window,
)
from .descriptors import DescriptorSettings
from .deviations import FrameDeviation


def _classify_measure(values: np.ndarray, window: TrustWindow) -> np.ndarray:
    """0 accurate, 1 candidate, 2 failed, for one measure (non-finite values count as failed)."""
    levels = np.full(values.shape, 2, dtype=int)
    finite = np.isfinite(values)
    levels[finite & (values < window.hi)] = 1
    levels[finite & (values < window.lo)] = 0
    return levels


def _as_measure(values, num_frames: int, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).reshape(-1)
    if array.shape != (num_frames,):
        raise ValueError(f'{name} must have one value per frame ({num_frames}), got {array.shape[0]}')
    return array


def classify_deviations(
    max_force_deviation: Sequence[float] | np.ndarray,
    criteria: TrustLevels | None = None,
    energy_deviation_per_atom: Sequence[float] | np.ndarray | None = None,
    stress_deviation: Sequence[float] | np.ndarray | None = None,
) -> list[str]:
    """Class of every frame (``'accurate'``, ``'candidate'`` or ``'failed'``), by the module's rule.

    :param max_force_deviation: per frame, eV/A.
    :param criteria: the trust windows; DP-GEN's 0.05/0.15 eV/A force window by default.
    :param energy_deviation_per_atom: per frame, eV/atom; required when the energy window is enabled.
    :param stress_deviation: per frame, eV/A^3 (as :mod:`.deviations` gives it; compared in GPa);
        required when the stress window is enabled.
    :raises ValueError: when an enabled measure is missing, has the wrong length, or is not finite
        for any frame (a measure that was never computed, rather than a model that blew up).
    """
    criteria = criteria or TrustLevels()
    forces = np.asarray(max_force_deviation, dtype=float).reshape(-1)
    num_frames = forces.shape[0]
    levels = _classify_measure(forces, criteria.force)
    optional = (
        ('energy_deviation_per_atom', criteria.energy_per_atom, energy_deviation_per_atom, 1.0),
        ('stress_deviation', criteria.stress, stress_deviation, 1.0 / units.GPa),
    )
    for name, window, values, to_window_unit in optional:
        if window is None:
            continue
        if values is None:
            raise ValueError(f'a trust window on {name} is set but no {name} was given')
        array = _as_measure(values, num_frames, name)
        if num_frames and not np.isfinite(array).any():
            raise ValueError(f'a trust window on {name} is set but no frame has a finite {name}')
        levels = np.maximum(levels, _classify_measure(array * to_window_unit, window))
    return [CLASSES[level] for level in levels]


def classify_frames(deviations: Sequence[FrameDeviation], criteria: TrustLevels | None = None) -> list[str]:
    """:func:`classify_deviations` on the :class:`FrameDeviation` of each frame."""
    return classify_deviations(
        [deviation.max_force_deviation for deviation in deviations],
        criteria,
        energy_deviation_per_atom=[deviation.energy_deviation_per_atom for deviation in deviations],
        stress_deviation=[deviation.stress_deviation for deviation in deviations],
    )


def class_counts(classes: Sequence[str]) -> dict[str, float]:
    """Counts and fractions of each class: ``{'total', 'accurate', 'accurate_fraction', ...}``."""
    unknown = set(classes) - set(CLASSES)
    if unknown:
        raise ValueError(f'unknown classes {sorted(unknown)}; expected {list(CLASSES)}')
    total = len(classes)
    statistics: dict[str, float] = {'total': total}
    for name in CLASSES:
        count = sum(1 for item in classes if item == name)
        statistics[name] = count
        statistics[f'{name}_fraction'] = count / total if total else 0.0
    return statistics


def statistics_by_condition(classes: Sequence[str], conditions: Sequence[str]) -> dict[str, dict[str, float]]:
    """:func:`class_counts` per exploration condition (e.g. ``'T=300K,P=0GPa,structure=0'``).

    :param classes: class of every frame.
    :param conditions: the condition label of every frame.
    :return: ``{condition: counts}`` in sorted order, plus ``'all'`` over every frame.
    """
    if len(classes) != len(conditions):
        raise ValueError(f'{len(classes)} classes but {len(conditions)} condition labels')
    if 'all' in conditions:
        raise ValueError("'all' is reserved for the statistics over every condition")
    grouped: dict[str, list[str]] = {}
    for item, condition in zip(classes, conditions, strict=True):
        grouped.setdefault(str(condition), []).append(item)
    statistics = {condition: class_counts(grouped[condition]) for condition in sorted(grouped)}
    statistics['all'] = class_counts(list(classes))
    return statistics


def is_converged(
    statistics: Mapping[str, Mapping[str, float]],
    min_accurate_fraction: float = DEFAULT_MIN_ACCURATE_FRACTION,
) -> bool:
    """DPGEN2's rule: every condition (``'all'`` excluded) has an accurate fraction >= the minimum."""
    check_accurate_fraction(min_accurate_fraction)
    per_condition = [counts for condition, counts in statistics.items() if condition != 'all']
    if not per_condition:
        raise ValueError('no per-condition statistics to judge convergence on')
    return all(counts['accurate_fraction'] >= min_accurate_fraction for counts in per_condition)


def deviation_histogram(
    values: Sequence[float] | np.ndarray,
    bin_edges: Sequence[float] | np.ndarray | None = None,
    num_bins: int = 20,
) -> dict[str, list]:
    """Histogram of deviations, JSON-ready.

    :param values: deviations (any unit; the edges share it).
    :param bin_edges: increasing edges; by default ``num_bins`` equal bins on [0, max finite value].
    :return: ``{'bin_edges', 'counts', 'overflow', 'underflow', 'non_finite'}``; ``counts[k]``
        holds values in [edge_k, edge_k+1) (the last bin includes its right edge), overflow and
        underflow those outside the edges, non_finite the NaN/inf values.
    """
    array = np.asarray(values, dtype=float).reshape(-1)
    finite = array[np.isfinite(array)]
    if bin_edges is None:
        if num_bins < 1:
            raise ValueError(f'num_bins must be at least 1, got {num_bins}')
        upper = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        edges = np.linspace(0.0, upper, num_bins + 1)
    else:
        edges = np.asarray(bin_edges, dtype=float)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError('bin_edges must be at least two strictly increasing numbers')
    counts, _ = np.histogram(finite, bins=edges)
    return {
        'bin_edges': edges.tolist(),
        'counts': counts.astype(int).tolist(),
        'underflow': int((finite < edges[0]).sum()),
        'overflow': int((finite > edges[-1]).sum()),
        'non_finite': int(array.size - finite.size),
    }


def _as_matrix(vectors, name: str, width: int | None = None) -> np.ndarray:
    matrix = np.asarray(vectors, dtype=float)
    if matrix.ndim == 1 and matrix.size == 0:
        matrix = matrix.reshape(0, width or 0)
    if matrix.ndim != 2:
        raise ValueError(f'{name} must be a 2D array (frames, descriptor length), got shape {matrix.shape}')
    if width is not None and matrix.shape[0] and matrix.shape[1] != width:
        raise ValueError(f'{name} has descriptor length {matrix.shape[1]}, expected {width}')
    if not np.isfinite(matrix).all():
        raise ValueError(f'{name} holds non-finite values')
    return matrix


def farthest_point_sampling(
    candidates: np.ndarray,
    max_selected: int,
    training: np.ndarray | None = None,
    duplicate_threshold: float = 0.0,
    start: int | None = None,
) -> list[int]:
    """Greedy farthest-point sampling of candidate descriptors (Euclidean distance).

    Each step picks the candidate farthest from everything already covered (the training set and
    the candidates picked so far), so the picks spread over descriptor space; O(n k) distance
    evaluations for n candidates and k picks (plus O(n m) once for m training frames).
    A candidate whose distance to the covered set is <= ``duplicate_threshold`` is a near-duplicate
    and is never picked; as the farthest remaining one is picked first, selection stops as soon
    as only near-duplicates remain, so fewer than ``max_selected`` may come back. Exact copies
    are always skipped (threshold 0).

    Deterministic: the first pick is ``start`` when given, else the candidate farthest from the
    training set, else (no training set) the candidate farthest from the candidates' mean; ties go
    to the lowest index.

    :param candidates: (n, d) descriptor vectors.
    :param max_selected: the budget, >= 0.
    :param training: optional (m, d) descriptors of frames already in the training set.
    :param duplicate_threshold: descriptor distance at or below which a candidate is a duplicate.
    :param start: optional index of the first pick (ignored when a training set is given).
    :return: indices into ``candidates``, in the order they were picked.
    """
    points = _as_matrix(candidates, 'candidates')
    if isinstance(max_selected, bool) or int(max_selected) != max_selected or max_selected < 0:
        raise ValueError(f'max_selected must be a non-negative integer, got {max_selected}')
    if not (math.isfinite(duplicate_threshold) and duplicate_threshold >= 0):
        raise ValueError(f'duplicate_threshold must be a non-negative number, got {duplicate_threshold}')
    num_candidates = points.shape[0]
    if num_candidates == 0 or max_selected == 0:
        return []
    reference = _as_matrix(training if training is not None else [], 'training', width=points.shape[1])
    if start is not None and not 0 <= start < num_candidates:
        raise ValueError(f'start must be a candidate index in [0, {num_candidates}), got {start}')

    # Distance of every candidate to the covered set (training frames and picks so far).
    covered_distance = np.full(num_candidates, np.inf)
    for row in reference:  # row by row keeps the memory at O(n d)
        np.minimum(covered_distance, np.linalg.norm(points - row, axis=1), out=covered_distance)
    if reference.shape[0]:
        choice = int(np.argmax(covered_distance))
        if covered_distance[choice] <= duplicate_threshold:
            return []
    elif start is not None:
        choice = int(start)
    else:
        choice = int(np.argmax(np.linalg.norm(points - points.mean(axis=0), axis=1)))

    selected: list[int] = []
    picked = np.zeros(num_candidates, dtype=bool)
    while True:
        selected.append(choice)
        picked[choice] = True
        np.minimum(covered_distance, np.linalg.norm(points - points[choice], axis=1), out=covered_distance)
        if len(selected) >= max_selected:
            break
        remaining = np.where(picked, -np.inf, covered_distance)
        choice = int(np.argmax(remaining))
        if remaining[choice] <= duplicate_threshold:
            break
    return selected


def random_selection(num_candidates: int, max_selected: int, seed: int) -> list[int]:
    """The random-cut baseline: ``min(max_selected, num_candidates)`` distinct indices, seeded."""
    if num_candidates < 0 or max_selected < 0:
        raise ValueError('num_candidates and max_selected must be non-negative')
    generator = np.random.default_rng(seed)
    return generator.choice(num_candidates, size=min(max_selected, num_candidates), replace=False).tolist()


#: Default per-iteration budget of frames to label.
DEFAULT_MAX_SELECTED = 50
#: Default descriptor distance at or below which two frames count as near-duplicates. With the default
#: :class:`~.descriptors.DescriptorSettings`, 64-atom diamond Si rattled by 0.01 A is 0.027 from the
#: unrattled cell, by 0.005 A 0.007; two independent 0.1 A rattles of one cell are 0.21 apart.
DEFAULT_DUPLICATE_THRESHOLD = 0.02
#: Ways to fill the budget: farthest-point sampling on descriptors, or DP-GEN's random cut.
SELECTION_METHODS = ('fps', 'random')
#: What a candidate's descriptor describes: the whole frame (atoms averaged), or the local environment of its
#: atom of largest committee force deviation (compared with every atom environment of the training set).
DESCRIPTOR_OF = ('frame', 'max_deviation_atom')
#: The keys of :class:`~.descriptors.DescriptorSettings` a user may set (species come from the frames).
DESCRIPTOR_KEYS = ('cutoff', 'num_radial_bins', 'radial_sigma', 'angle_cutoff', 'num_angle_bins', 'angle_sigma')


def _non_negative_number(parameters: Mapping, key: str, default: float) -> float:
    value = parameters.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f'{key} must be a number, got {value!r}')
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f'{key} must be a non-negative finite number, got {value}')
    return float(value)


def _integer(parameters: Mapping, key: str, default: int, minimum: int) -> int:
    value = parameters.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f'{key} must be an integer, got {value!r}')
    if value < minimum:
        raise ValueError(f'{key} must be at least {minimum}, got {value}')
    return int(value)


@dataclass(frozen=True)
class SelectionParameters:
    """Everything that decides which explored frames are labelled; see :func:`parse_selection_parameters`."""

    trust_levels: TrustLevels
    max_selected: int = DEFAULT_MAX_SELECTED
    duplicate_threshold: float = DEFAULT_DUPLICATE_THRESHOLD
    method: str = 'fps'
    seed: int = 0
    min_accurate_fraction: float = DEFAULT_MIN_ACCURATE_FRACTION
    descriptor: Mapping | None = None
    descriptor_of: str = 'frame'
    force_trust_lo_per_structure: Mapping[str, float] | None = None

    def force_window(self, structure: str | None) -> TrustWindow:
        """The force window of frames explored from ``structure``: its own lower level if one was fitted."""
        levels = self.force_trust_lo_per_structure or {}
        if structure is None or structure not in levels:
            return self.trust_levels.force
        return TrustWindow(levels[structure], self.trust_levels.force.hi)

    def as_dict(self) -> dict:
        """Every setting with its default filled in: the selection keys, the trust levels, the accurate fraction."""
        values = {
            **self.trust_levels.to_dict(),
            'max_selected': self.max_selected,
            'duplicate_threshold': self.duplicate_threshold,
            'method': self.method,
            'seed': self.seed,
            MIN_ACCURATE_FRACTION_KEY: self.min_accurate_fraction,
            'descriptor': dict(self.descriptor or {}),
            'descriptor_of': self.descriptor_of,
        }
        if self.force_trust_lo_per_structure:
            values['force_trust_lo_per_structure'] = dict(self.force_trust_lo_per_structure)
        return values


#: Keys :func:`parse_selection_parameters` accepts in ``parameters``.
SELECTION_PARAMETER_KEYS = ('max_selected', 'duplicate_threshold', 'method', 'seed', 'descriptor', 'descriptor_of')


def parse_selection_parameters(
    parameters: Mapping | None = None,
    trust_levels: Mapping | TrustLevels | None = None,
    min_accurate_fraction: float = DEFAULT_MIN_ACCURATE_FRACTION,
    force_trust_lo_per_structure: Mapping[str, float] | None = None,
) -> SelectionParameters:
    """Validate the selection settings and fill in the defaults.

    Work chains call this in their input validator, so bad windows are refused before any job runs.

    :param parameters: the selection's own keys (all optional): ``max_selected`` (>= 1, default 50),
        ``duplicate_threshold`` (descriptor distance, default 0.02), ``method`` (``'fps'`` or ``'random'``),
        ``seed`` (of the random cut), ``descriptor`` (a dictionary of
        :class:`~.descriptors.DescriptorSettings` keys but ``species``) and ``descriptor_of`` (``'frame'``, the
        default, or ``'max_deviation_atom'``: the environment of each candidate's atom of largest committee
        force deviation, compared with every atom environment of the training set).
    :param trust_levels: the trust windows (:class:`~.contract.TrustLevels` or its flat keys; default DP-GEN's
        0.05/0.15 eV/A force window). They are shared with exploration, so they are given apart from
        ``parameters``, never inside it.
    :param min_accurate_fraction: DPGEN2's convergence rule, in (0, 1] (default 0.9).
    :param force_trust_lo_per_structure: exploration structure -> its own lower force level (eV/A, below
        ``force_trust_hi``); the loop fits these when its trust window is adaptive.
    :raises ValueError: naming the offending key: unknown keys (trust levels or the accurate fraction inside
        ``parameters`` among them), lo >= hi, negative or non-finite values, ``max_selected < 1``, an unknown
        method or descriptor setting.
    """
    parameters = dict(parameters or {})
    shared = sorted(set(parameters) & {*TRUST_KEYS, MIN_ACCURATE_FRACTION_KEY, 'force_trust_lo_per_structure'})
    if shared:
        raise ValueError(
            f'selection parameters may not set {shared}: the trust levels and `{MIN_ACCURATE_FRACTION_KEY}` are '
            'inputs of their own (`trust_levels`, `min_accurate_fraction`), shared with exploration'
        )
    unknown = sorted(set(parameters) - set(SELECTION_PARAMETER_KEYS))
    if unknown:
        raise ValueError(f'unknown selection parameter(s) {unknown}; known: {list(SELECTION_PARAMETER_KEYS)}')
    if not isinstance(trust_levels, TrustLevels):
        trust_levels = TrustLevels.from_dict(trust_levels)
    force_hi = trust_levels.force.hi
    method = parameters.get('method', 'fps')
    if method not in SELECTION_METHODS:
        raise ValueError(f'method must be one of {list(SELECTION_METHODS)}, got {method!r}')
    min_accurate_fraction = check_accurate_fraction(min_accurate_fraction)
    descriptor_of = parameters.get('descriptor_of', 'frame')
    if descriptor_of not in DESCRIPTOR_OF:
        raise ValueError(f'descriptor_of must be one of {list(DESCRIPTOR_OF)}, got {descriptor_of!r}')
    descriptor = dict(parameters.get('descriptor') or {})
    unknown = sorted(set(descriptor) - set(DESCRIPTOR_KEYS))
    if unknown:
        raise ValueError(f'unknown descriptor setting(s) {unknown}; known: {list(DESCRIPTOR_KEYS)}')
    try:  # checks the values; the species come from the frames later
        DescriptorSettings(species=('H',), **descriptor)
    except (TypeError, ValueError) as exception:
        raise ValueError(f'descriptor: {exception}') from exception
    levels = dict(force_trust_lo_per_structure or {})
    for structure, level in levels.items():
        validate_trust_window(level, force_hi, name=f'force trust window of structure `{structure}` (eV/A)')
    return SelectionParameters(
        trust_levels=trust_levels,
        force_trust_lo_per_structure={name: float(level) for name, level in levels.items()} or None,
        max_selected=_integer(parameters, 'max_selected', DEFAULT_MAX_SELECTED, minimum=1),
        duplicate_threshold=_non_negative_number(parameters, 'duplicate_threshold', DEFAULT_DUPLICATE_THRESHOLD),
        method=method,
        seed=_integer(parameters, 'seed', 0, minimum=0),
        min_accurate_fraction=min_accurate_fraction,
        descriptor=descriptor,
        descriptor_of=descriptor_of,
    )
