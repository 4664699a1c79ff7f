"""Small helpers shared by the structure generators: settings from dicts, size caps, pymatgen conversion."""

from __future__ import annotations

import copy as copying
import dataclasses
from collections.abc import Mapping, Sequence
from typing import TypeVar

import numpy as np
from ase import Atoms

Settings = TypeVar('Settings')


def settings_from_dict(cls: type[Settings], values: Mapping | None, what: str) -> Settings:
    """Build the settings dataclass ``cls`` from a plain dict, refusing unknown keys (typos would pass silently)."""
    values = dict(values or {})
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f'unknown {what} keys {sorted(unknown)}; known: {sorted(known)}')
    return cls(**values)


def check_positive_int(value, name: str, allow_zero: bool = False) -> None:
    """Raise ValueError unless ``value`` is an integer >= 1 (>= 0 with ``allow_zero``)."""
    lowest = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lowest:
        raise ValueError(f'{name} must be an integer >= {lowest}, got {value!r}')


def enforce_max_atoms(frames: Sequence[Atoms], max_atoms: int, what: str) -> None:
    """Refuse structures larger than ``max_atoms``: every generated structure may be sent to DFT."""
    for atoms in frames:
        if len(atoms) > max_atoms:
            raise ValueError(
                f'{what} made a structure of {len(atoms)} atoms, more than max_atoms={max_atoms}: '
                'lower the size settings or raise max_atoms (each structure may be labelled with DFT)'
            )


def bare_copy(atoms: Atoms) -> Atoms:
    """A copy without calculator results, with its own copy of ``info``."""
    copy = atoms.copy()  # Atoms.copy drops the calculator
    copy.info = copying.deepcopy(atoms.info)
    return copy


def to_pymatgen(atoms: Atoms):
    """A pymatgen ``Structure`` of a periodic ``atoms`` (no calculator, no info)."""
    from pymatgen.core import Structure

    if atoms.cell.rank != 3:
        raise ValueError('this generator needs a structure with a full 3D cell')
    return Structure(atoms.cell.array, atoms.get_chemical_symbols(), atoms.positions, coords_are_cartesian=True)


def from_pymatgen(structure, info: Mapping | None = None) -> Atoms:
    """``Atoms`` (fully periodic) of a pymatgen structure, oxidation states dropped, with a copy of ``info``."""
    symbols = [site.specie.symbol for site in structure]
    atoms = Atoms(symbols=symbols, positions=structure.cart_coords, cell=structure.lattice.matrix, pbc=True)
    atoms.info = copying.deepcopy(dict(info or {}))
    return atoms
