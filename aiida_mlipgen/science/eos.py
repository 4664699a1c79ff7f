"""Equation of state: isotropically scaled cells and a Birch-Murnaghan fit (ASE's ``EquationOfState``).

Volumes in A^3, energies in eV, bulk moduli in GPa. The lattice-constant error of a model is
(V0_model / V0_ref)^(1/3) - 1: the relative error of every lattice vector of a cell scaled
isotropically, which is the error of a0 for a cubic crystal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from ase import Atoms, units


def scaled_cells(atoms: Atoms, volume_changes_percent: Sequence[float]) -> list[Atoms]:
    """Copies of ``atoms`` with the volume changed by each percentage, fractional positions kept."""
    if len(volume_changes_percent) < 4:
        raise ValueError('a Birch-Murnaghan fit needs at least 4 volumes')
    frames = []
    for change in volume_changes_percent:
        if not -50 < change < 100:
            raise ValueError(f'volume change {change} % is out of range (-50, 100)')
        copy = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        copy.set_cell(atoms.cell * (1 + change / 100) ** (1 / 3), scale_atoms=True)
        copy.info['volume_change_percent'] = float(change)
        frames.append(copy)
    return frames


@dataclass(frozen=True)
class BirchMurnaghanFit:
    """Birch-Murnaghan parameters: V0 (A^3), E0 (eV), B0 (GPa), B0' (dimensionless), per the whole cell."""

    volume_A3: float  # noqa: N815
    energy_eV: float  # noqa: N815
    bulk_modulus_GPa: float  # noqa: N815
    bulk_modulus_derivative: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def energies(self, volumes: np.ndarray) -> np.ndarray:
        """Fitted energies (eV) at ``volumes`` (A^3)."""
        from ase.eos import birchmurnaghan

        return birchmurnaghan(
            np.asarray(volumes, dtype=float),
            self.energy_eV,
            self.bulk_modulus_GPa * units.GPa,
            self.bulk_modulus_derivative,
            self.volume_A3,
        )


def fit_birch_murnaghan(volumes: Sequence[float], energies: Sequence[float]) -> BirchMurnaghanFit:
    """Fit E(V) with ASE's Birch-Murnaghan equation of state.

    :raises ValueError: with fewer than 4 points, non-finite values, or a minimum outside the volumes.
    """
    from ase.eos import EquationOfState

    volumes = np.asarray(volumes, dtype=float)
    energies = np.asarray(energies, dtype=float)
    if volumes.shape != energies.shape or volumes.size < 4:
        raise ValueError('a Birch-Murnaghan fit needs at least 4 (volume, energy) pairs')
    if not (np.isfinite(volumes).all() and np.isfinite(energies).all()):
        raise ValueError('volumes and energies must be finite')
    eos = EquationOfState(volumes, energies, eos='birchmurnaghan')
    try:
        volume, energy, bulk_modulus = eos.fit(warn=False)
    except (RuntimeError, ValueError) as exception:
        raise ValueError(f'the Birch-Murnaghan fit failed: {exception}') from exception
    if not volumes.min() <= volume <= volumes.max():
        raise ValueError(
            f'the fitted equilibrium volume {volume:.3f} A^3 lies outside the sampled volumes '
            f'{volumes.min():.3f}-{volumes.max():.3f} A^3'
        )
    return BirchMurnaghanFit(
        volume_A3=float(volume),
        energy_eV=float(energy),
        bulk_modulus_GPa=float(bulk_modulus / units.GPa),
        bulk_modulus_derivative=float(eos.eos_parameters[2]),
    )


def compare_fits(model: BirchMurnaghanFit, reference: BirchMurnaghanFit) -> dict[str, float]:
    """Relative errors of the model's lattice constant, volume and bulk modulus against the reference."""
    return {
        'lattice_constant_relative_error': float((model.volume_A3 / reference.volume_A3) ** (1 / 3) - 1),
        'volume_relative_error': float(model.volume_A3 / reference.volume_A3 - 1),
        'bulk_modulus_relative_error': float(model.bulk_modulus_GPa / reference.bulk_modulus_GPa - 1),
    }
