"""Checks of user structures before anything runs: files ASE cannot read, and structures DFT cannot label.

A seed with no periodic cell cannot be run by a plane-wave code, and one with two atoms on top of each
other gives a DFT run that fails or labels nonsense. Both are refused with a one-line message that names the
structure, instead of failing deep in a run. No AiiDA import: the command line and the work chains share these.
"""

from __future__ import annotations

from pathlib import Path

from ase import Atoms

from aiida_mlipgen.science.quality import DEFAULT_MIN_DISTANCE_RATIO, close_contacts


def _one_line(text: str) -> str:
    return ' '.join(str(text).split())


def read_structure_file(path: str | Path) -> list[Atoms]:
    """Every structure in ``path`` (any format ASE reads, chosen from the file name).

    :raises ValueError: with a one-line message naming the file: unreadable, empty, not in the format its
        name says, or holding no structure.
    """
    from ase.io import read

    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exception:
        raise ValueError(f'{path}: cannot read the file ({_one_line(exception.strerror or exception)})') from None
    if size == 0:
        raise ValueError(f'{path}: the file is empty')
    try:
        frames = read(str(path), index=':')
    except Exception as exception:  # noqa: BLE001 - ASE's readers raise anything, from AssertionError to KeyError
        detail = _one_line(exception) or 'no further detail'
        raise ValueError(
            f'{path}: not a readable structure file for ASE (format from the name `{path.suffix or path.name}`; '
            f'{type(exception).__name__}: {detail})'
        ) from None
    if not isinstance(frames, list):
        frames = [frames]
    if not frames:
        raise ValueError(f'{path}: no structure in the file')
    return frames


def structure_problem(name: str, atoms: Atoms, min_distance_ratio: float = DEFAULT_MIN_DISTANCE_RATIO) -> str | None:
    """Why structure ``name`` cannot seed a loop, or None: no atoms, no periodic cell, or overlapping atoms.

    :param min_distance_ratio: atoms closer than this x the sum of their covalent radii overlap (the
        labelling's pre-submission gate uses the same rule, see docs/labelling.md).
    """
    if len(atoms) == 0:
        return f'structure `{name}` has no atoms.'
    if atoms.cell.rank < 3:
        return (
            f'structure `{name}` has no periodic cell (a molecule or cluster?): plane-wave DFT and the MD need one; '
            'put it in a box with vacuum around it.'
        )
    contacts = close_contacts(atoms, min_distance_ratio=min_distance_ratio)
    if contacts:
        first, second, distance, threshold = min(contacts, key=lambda contact: contact[2])
        return (
            f'structure `{name}`: atoms {first} ({atoms[first].symbol}) and {second} ({atoms[second].symbol}) are '
            f'{distance:.2f} A apart, below {threshold:.2f} A ({min_distance_ratio} x the sum of covalent radii); '
            f'{len(contacts)} pair(s) overlap.'
        )
    return None
