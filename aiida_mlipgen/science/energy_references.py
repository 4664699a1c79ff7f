"""Per-species reference energies of a labelled set, for the energy shifts of a multi-species model.

A model's energy is a sum of per-atom energies, each shifted by its species' reference. With one
shift for every species, a Si-Ge model must first learn an offset of the order of the difference of
the two elements' total energies per atom (hundreds of eV with all-electron-like pseudopotentials)
before any chemistry. The least-squares references mu_s of E_frame ~ sum_s n_s(frame) mu_s remove that
offset (as MACE's and NequIP's documentation advise, in place of isolated-atom energies). Units: eV/atom.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms


def per_species_energy_references(frames: Sequence[Atoms]) -> dict[str, float]:
    """Least-squares energy per atom of each species (eV/atom), from frames labelled with an energy.

    The minimum-norm solution is returned when compositions do not determine every species alone
    (e.g. only 1:1 alloys), so the sum over a frame's atoms still matches its energies best.

    :raises ValueError: when no frame carries an energy.
    """
    labelled = [atoms for atoms in frames if atoms.calc is not None and 'energy' in atoms.calc.results]
    if not labelled:
        raise ValueError('no frame has an energy label')
    species = sorted({symbol for atoms in labelled for symbol in atoms.get_chemical_symbols()})
    counts = np.array([[atoms.get_chemical_symbols().count(symbol) for symbol in species] for atoms in labelled])
    energies = np.array([atoms.calc.results['energy'] for atoms in labelled], dtype=float)
    references, *_ = np.linalg.lstsq(counts.astype(float), energies, rcond=None)
    return {symbol: float(value) for symbol, value in zip(species, references, strict=True)}
