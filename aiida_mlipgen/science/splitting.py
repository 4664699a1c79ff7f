"""Train/validation/test splits and frame identity, for keeping a held-out test set clean."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np
from ase import Atoms

#: The usual 80/10/10 train/validation/test split.
DEFAULT_FRACTIONS = {'train': 0.8, 'validation': 0.1, 'test': 0.1}
#: The order in which parts are cut from the shuffled frames; other part names follow alphabetically.
PART_ORDER = ('train', 'validation', 'test')


def ordered_part_names(names) -> list[str]:
    """``names`` in :data:`PART_ORDER`, then the others alphabetically: never the order a mapping happens to have.

    A stored ``Dict`` does not keep its key order on every database (PostgreSQL's JSONB sorts keys by
    length), so a split that followed the mapping's order would differ between storage back-ends.
    """
    names = set(names)
    return [name for name in PART_ORDER if name in names] + sorted(names - set(PART_ORDER))


def split_indices(num_frames: int, fractions: Mapping[str, float], seed: int) -> dict[str, list[int]]:
    """Shuffle ``range(num_frames)`` with ``seed`` and cut it by ``fractions`` (which must sum to 1).

    Parts are cut in the order of :func:`ordered_part_names` (train, validation, test, then other names
    alphabetically), whatever the order of ``fractions``. Sizes are rounded down, the remainder going to
    the first of them; every part with a positive fraction gets at least one frame when there are enough
    frames. Indices in each part are sorted.
    """
    if num_frames < 1:
        raise ValueError('cannot split an empty set of frames')
    if any(value < 0 for value in fractions.values()) or not np.isclose(sum(fractions.values()), 1.0):
        raise ValueError(f'split fractions must be non-negative and sum to 1, got {dict(fractions)}')
    names = ordered_part_names(fractions)
    wanted = [name for name in names if fractions[name] > 0]
    if num_frames < len(wanted):
        raise ValueError(f'{num_frames} frame(s) cannot fill the {len(wanted)} parts {", ".join(wanted)}')
    sizes = {name: int(np.floor(fractions[name] * num_frames)) for name in names}
    for name in wanted:
        sizes[name] = max(sizes[name], 1)
    sizes[names[0]] += num_frames - sum(sizes.values())
    order = np.random.default_rng(seed).permutation(num_frames)
    parts, start = {}, 0
    for name, size in sizes.items():
        parts[name] = sorted(int(index) for index in order[start : start + size])
        start += size
    return parts


def frame_identity(atoms: Atoms, decimals: int = 6) -> str:
    """A hash of species, cell, pbc and positions rounded to ``decimals`` A: equal for the same configuration."""
    digest = hashlib.sha256()
    digest.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    digest.update(np.round(atoms.cell.array, decimals).astype(np.float64).tobytes())
    digest.update(np.asarray(atoms.pbc, dtype=bool).tobytes())
    digest.update(np.round(atoms.positions, decimals).astype(np.float64).tobytes())
    return digest.hexdigest()


def shared_frames(first: Sequence[Atoms], second: Sequence[Atoms]) -> list[tuple[int, int]]:
    """Pairs (i, j) where ``first[i]`` and ``second[j]`` are the same configuration."""
    index = {}
    for j, atoms in enumerate(second):
        index.setdefault(frame_identity(atoms), []).append(j)
    return [(i, j) for i, atoms in enumerate(first) for j in index.get(frame_identity(atoms), [])]
