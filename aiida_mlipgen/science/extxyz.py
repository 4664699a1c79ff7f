"""Lossless extended-XYZ writing.

ASE's extxyz writer prints floats with 8 decimals, which loses precision on a round trip. Training
sets are exchanged as extxyz (NequIP, MACE and ASE read it), so we write the same format with
``repr`` precision: every float written here is read back by ``ase.io.read`` bit for bit.

Conventions (those of ASE's reader): ``energy`` is the total energy in eV, ``forces`` in eV/A,
``stress`` in ASE's sign convention (positive = tensile) in eV/A^3, written as a 3x3 tensor.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from ase import Atoms

#: Per-frame results that ASE's extxyz reader turns into calculator results.
FRAME_RESULT_KEYS = ('energy', 'free_energy', 'stress')
#: Per-atom results that ASE's extxyz reader turns into calculator results.
ATOM_RESULT_KEYS = ('forces',)


def _format_float(value: float) -> str:
    return repr(float(value))


def _format_info_value(key: str, value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return 'T' if value else 'F'
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return _format_float(value)
    if isinstance(value, str):
        if '"' in value or '\n' in value:
            raise ValueError(f'info value of `{key}` may not contain quotes or newlines: {value!r}')
        return f'"{value}"'
    array = np.asarray(value)
    if array.dtype.kind in 'iuf' and array.ndim in (1, 2):
        formatter = _format_float if array.dtype.kind == 'f' else (lambda item: str(int(item)))
        return '"' + ' '.join(formatter(item) for item in array.ravel()) + '"'
    raise TypeError(f'cannot write info value of `{key}` ({type(value).__name__}) to extxyz')


def _per_atom_columns(atoms: Atoms) -> list[tuple[str, str, np.ndarray]]:
    """Return (name, type letter, array of shape (A, k)) for every per-atom column."""
    columns = [('species', 'S', np.asarray(atoms.get_chemical_symbols()).reshape(-1, 1))]
    columns.append(('pos', 'R', atoms.positions))
    results = atoms.calc.results if atoms.calc is not None else {}
    for key in ATOM_RESULT_KEYS:
        if key in results:
            columns.append((key, 'R', np.asarray(results[key], dtype=float).reshape(len(atoms), -1)))
    for key, array in atoms.arrays.items():
        if key in ('numbers', 'positions') or key in ATOM_RESULT_KEYS:
            continue
        array = np.asarray(array).reshape(len(atoms), -1)
        letter = {'f': 'R', 'i': 'I', 'u': 'I', 'b': 'L'}.get(array.dtype.kind)
        if letter is None:
            raise TypeError(f'cannot write per-atom array `{key}` of dtype {array.dtype} to extxyz')
        columns.append((key, letter, array))
    return columns


def _format_cell_value(letter: str, item) -> str:
    if letter == 'R':
        return _format_float(item)
    if letter == 'L':
        return 'T' if item else 'F'
    return str(item)


def check_frame_keys(atoms: Atoms) -> None:
    """Refuse info and per-atom keys that would not read back as they were written.

    A key with white space, ``=`` or quotes breaks the comment line; an info key that ASE's reader turns into
    a calculator result (``energy``, ``stress``, ...) or a per-atom array named like one (``forces``, ...)
    would come back as a label, or not at all: labels go through ``atoms.calc``.

    :raises ValueError: naming the key.
    """
    from ase.io.extxyz import per_atom_properties, per_config_properties

    for key in list(atoms.info) + list(atoms.arrays):
        if not isinstance(key, str) or not key or any(char.isspace() or char in '="\'' for char in key):
            raise ValueError(f'info or array key {key!r} cannot be written to extxyz: no spaces, `=` or quotes')
    clash = sorted(set(atoms.info) & set(per_config_properties))
    clash += sorted(set(atoms.arrays) & set(per_atom_properties))
    if clash:
        raise ValueError(
            f'key(s) {clash} of `atoms.info`/`atoms.arrays` collide with the labels (read back as calculator '
            'results): give labels through `atoms.calc` (e.g. a SinglePointCalculator), or rename the keys.'
        )


def write_frame(handle, atoms: Atoms) -> None:
    """Write one frame (positions, cell, pbc, info, arrays and calculator results) to ``handle``."""
    check_frame_keys(atoms)
    results = atoms.calc.results if atoms.calc is not None else {}
    header = {}
    if atoms.cell.rank == 3 or atoms.pbc.any():
        header['Lattice'] = '"' + ' '.join(_format_float(x) for x in atoms.cell.array.ravel()) + '"'
    columns = _per_atom_columns(atoms)
    header['Properties'] = ':'.join(f'{name}:{letter}:{array.shape[1]}' for name, letter, array in columns)
    for key in FRAME_RESULT_KEYS:
        if key not in results:
            continue
        value = np.asarray(results[key], dtype=float)
        if key == 'stress' and value.shape == (6,):
            xx, yy, zz, yz, xz, xy = value
            value = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
        header[key] = _format_info_value(key, value if value.ndim else float(value))
    for key, value in atoms.info.items():
        if key in header or key in ('pbc',):
            continue
        header[key] = _format_info_value(key, value)
    header['pbc'] = '"' + ' '.join('T' if flag else 'F' for flag in atoms.pbc) + '"'

    handle.write(f'{len(atoms)}\n')
    handle.write(' '.join(f'{key}={value}' for key, value in header.items()) + '\n')
    for index in range(len(atoms)):
        fields = []
        for _, letter, array in columns:
            fields.extend(_format_cell_value(letter, item) for item in array[index])
        handle.write(' '.join(fields) + '\n')


def write_extxyz(target: str | Path | io.TextIOBase, frames: Iterable[Atoms]) -> None:
    """Write frames to a path or text handle as lossless extxyz."""
    if isinstance(target, (str, Path)):
        with open(target, 'w', encoding='utf-8') as handle:
            for atoms in frames:
                write_frame(handle, atoms)
    else:
        for atoms in frames:
            write_frame(target, atoms)


def extxyz_string(frames: Iterable[Atoms]) -> str:
    """Return frames as a lossless extxyz string."""
    buffer = io.StringIO()
    write_extxyz(buffer, frames)
    return buffer.getvalue()
