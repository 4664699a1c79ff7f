"""Summary statistics of a set of configurations, used as queryable attributes of a dataset."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from ase import Atoms


def _statistics(values: np.ndarray) -> dict[str, float]:
    return {
        'min': float(values.min()),
        'max': float(values.max()),
        'mean': float(values.mean()),
        'std': float(values.std()),
    }


def _result(atoms: Atoms, key: str):
    if atoms.calc is None:
        return None
    return atoms.calc.results.get(key)


def summarise_frames(frames: Sequence[Atoms]) -> dict:
    """Return JSON-serialisable statistics of ``frames``.

    Keys: ``num_frames``, ``num_atoms`` (total), ``num_atoms_min``/``num_atoms_max`` (per frame),
    ``species`` (sorted symbols), ``has_energy``/``has_forces``/``has_stress`` (true only when
    every frame has the label), ``energy_per_atom`` (eV/atom) and ``force_component`` (eV/A)
    statistics {min, max, mean, std} over the frames that have them.
    """
    if not frames:
        raise ValueError('a dataset needs at least one frame')
    sizes = np.array([len(atoms) for atoms in frames])
    species = sorted({symbol for atoms in frames for symbol in atoms.get_chemical_symbols()})
    energies = [_result(atoms, 'energy') for atoms in frames]
    forces = [_result(atoms, 'forces') for atoms in frames]
    stresses = [_result(atoms, 'stress') for atoms in frames]
    summary = {
        'num_frames': len(frames),
        'num_atoms': int(sizes.sum()),
        'num_atoms_min': int(sizes.min()),
        'num_atoms_max': int(sizes.max()),
        'species': species,
        'has_energy': all(value is not None for value in energies),
        'has_forces': all(value is not None for value in forces),
        'has_stress': all(value is not None for value in stresses),
    }
    per_atom = [energy / size for energy, size in zip(energies, sizes, strict=True) if energy is not None]
    if per_atom:
        summary['energy_per_atom'] = _statistics(np.asarray(per_atom))
    components = [np.asarray(value).ravel() for value in forces if value is not None]
    if components:
        summary['force_component'] = _statistics(np.concatenate(components))
    return summary


def content_hash(text: str) -> str:
    """SHA-256 hex digest of a file's text, the identity of a dataset or model."""
    return hashlib.sha256(text.encode('utf-8')).hexdigest()
