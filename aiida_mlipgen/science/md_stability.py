"""NVE stability of a potential: energy drift, time to failure and radial distribution functions.

The MD runs with any ASE calculator (velocity Verlet). Units: time fs in the run and ps in the drift,
energies eV, drift eV/atom/ps, distances A, temperatures K. A run fails at the first step where an
energy or force is not finite, two atoms come closer than ``min_distance_ratio`` x the sum of their
covalent radii, or (for a committee) the max force deviation exceeds a bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms, units

from aiida_mlipgen.science.quality import close_contacts


def energy_drift(times_ps: Sequence[float], total_energies_eV: Sequence[float], num_atoms: int) -> float:  # noqa: N803
    """Slope of a straight-line fit of the total energy per atom against time, eV/atom/ps."""
    times = np.asarray(times_ps, dtype=float)
    energies = np.asarray(total_energies_eV, dtype=float) / num_atoms
    finite = np.isfinite(energies)
    if finite.sum() < 2 or np.ptp(times[finite]) == 0:
        raise ValueError('a drift needs at least two finite energies at different times')
    slope, _ = np.polyfit(times[finite], energies[finite], 1)
    return float(slope)


@dataclass
class NVETrace:
    """What one NVE run recorded every ``interval`` steps (and why it stopped, if it did)."""

    num_atoms: int
    timestep_fs: float
    times_fs: list[float] = field(default_factory=list)
    potential_energies_eV: list[float] = field(default_factory=list)  # noqa: N815
    kinetic_energies_eV: list[float] = field(default_factory=list)  # noqa: N815
    temperatures_K: list[float] = field(default_factory=list)  # noqa: N815
    min_distance_ratios: list[float] = field(default_factory=list)
    max_force_deviations: list[float] = field(default_factory=list)
    frames: list[Atoms] = field(default_factory=list)
    steps_done: int = 0
    failure: str | None = None
    failure_time_fs: float | None = None

    @property
    def total_energies_eV(self) -> list[float]:  # noqa: N802
        return [e + k for e, k in zip(self.potential_energies_eV, self.kinetic_energies_eV, strict=True)]

    def drift_eV_per_atom_per_ps(self) -> float | None:  # noqa: N802
        """Energy drift of the recorded part of the run, or None with fewer than two points."""
        try:
            return energy_drift(np.asarray(self.times_fs) / 1000, self.total_energies_eV, self.num_atoms)
        except ValueError:
            return None


def min_distance_ratio(atoms: Atoms, search_ratio: float = 1.0) -> float:
    """Shortest interatomic distance over the sum of the two atoms' covalent radii (inf if none within)."""
    contacts = close_contacts(atoms, min_distance_ratio=search_ratio)
    if not contacts:
        return math.inf
    return min(distance / (threshold / search_ratio) for _, _, distance, threshold in contacts)


def run_nve(
    atoms: Atoms,
    calculator,
    temperature_K: float,  # noqa: N803
    steps: int,
    timestep_fs: float = 1.0,
    interval: int = 10,
    seed: int = 0,
    min_distance_ratio_bound: float = 0.5,
    max_force_deviation_bound: float | None = None,
    force_deviation: Callable[[Atoms], float] | None = None,
    frame_interval: int | None = None,
) -> NVETrace:
    """Velocity-Verlet NVE from ``atoms`` with momenta drawn at 2 x ``temperature_K``.

    A crystal started at its minimum shares the kinetic energy with the potential energy, so the
    run settles near ``temperature_K`` (equipartition).

    :param force_deviation: the committee's max force deviation of a frame (eV/A), checked every
        ``interval`` steps against ``max_force_deviation_bound``.
    :param frame_interval: keep a bare copy of the frame every so many steps (for RDFs).
    """
    from ase.md.velocitydistribution import Stationary
    from ase.md.verlet import VelocityVerlet

    try:
        from ase.md.velocitydistribution import thermalize_momenta as thermalize
    except ImportError:  # ASE < 3.29
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize  # noqa: N813

    if steps < 1 or interval < 1:
        raise ValueError('steps and interval must be positive')
    atoms = atoms.copy()
    atoms.calc = calculator
    thermalize(atoms, temperature_K=2 * temperature_K, rng=np.random.default_rng(seed))
    Stationary(atoms)
    dynamics = VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    trace = NVETrace(num_atoms=len(atoms), timestep_fs=timestep_fs)

    def check(step: int) -> bool:
        """Record the frame; return False when the run has failed."""
        time_fs = step * timestep_fs
        try:
            potential = float(atoms.get_potential_energy())
            forces = atoms.get_forces()
        except (RuntimeError, ValueError, FloatingPointError) as exception:
            trace.failure, trace.failure_time_fs = f'the calculator failed: {exception}', time_fs
            return False
        kinetic = float(atoms.get_kinetic_energy())
        ratio = min_distance_ratio(atoms)
        deviation = float(force_deviation(atoms)) if force_deviation is not None else math.nan
        trace.times_fs.append(time_fs)
        trace.potential_energies_eV.append(potential)
        trace.kinetic_energies_eV.append(kinetic)
        trace.temperatures_K.append(float(atoms.get_temperature()))
        trace.min_distance_ratios.append(ratio)
        trace.max_force_deviations.append(deviation)
        if frame_interval and step % frame_interval == 0:
            trace.frames.append(Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc))
        if not (math.isfinite(potential) and math.isfinite(kinetic) and np.isfinite(forces).all()):
            trace.failure = 'non-finite energy or forces'
        elif ratio < min_distance_ratio_bound:
            trace.failure = f'atoms closer than {min_distance_ratio_bound} x the sum of covalent radii ({ratio:.2f})'
        elif max_force_deviation_bound is not None and deviation > max_force_deviation_bound:
            trace.failure = f'max force deviation {deviation:.3f} eV/A above {max_force_deviation_bound} eV/A'
        if trace.failure is not None:
            trace.failure_time_fs = time_fs
            return False
        return True

    if not check(0):
        return trace
    try:
        for _ in dynamics.irun(steps):
            step = dynamics.nsteps
            if step == 0:  # ASE's irun yields once before the first step
                continue
            trace.steps_done = step
            if step % interval == 0 or step == steps:
                if not check(step):
                    break
            elif not np.isfinite(atoms.positions).all():
                trace.failure, trace.failure_time_fs = 'non-finite positions', step * timestep_fs
                break
    except (RuntimeError, ValueError, FloatingPointError, MemoryError) as exception:
        # a blown-up structure can break the neighbour list or the model inside a step: that is a failure too
        trace.failure = f'the MD step failed: {type(exception).__name__}: {exception}'
        trace.failure_time_fs = (trace.steps_done + 1) * timestep_fs
    return trace


def radial_distribution(frames: Sequence[Atoms], r_max: float = 5.0, bins: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Average radial distribution function g(r) of all atom pairs over ``frames`` (r in A, bin centres).

    ``r_max`` must not exceed the distance at which periodic images would be counted twice; ASE's
    neighbour list handles small cells, so any ``r_max`` is counted correctly here.
    """
    from ase.neighborlist import neighbor_list

    if not frames:
        raise ValueError('no frames for a radial distribution function')
    edges = np.linspace(0.0, r_max, bins + 1)
    histogram = np.zeros(bins)
    density_sum = 0.0
    for atoms in frames:
        distances = neighbor_list('d', atoms, r_max)
        counts, _ = np.histogram(distances, bins=edges)
        number_density = len(atoms) / atoms.get_volume()
        histogram += counts / len(atoms) / number_density
        density_sum += 1
    shell_volumes = 4 / 3 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    centres = 0.5 * (edges[1:] + edges[:-1])
    return centres, histogram / density_sum / shell_volumes


def rdf_difference(g_model: np.ndarray, g_reference: np.ndarray) -> float:
    """Relative difference sum |g_model - g_ref| / sum g_ref (same bins), as a fraction (0.05 = 5 %)."""
    g_model = np.asarray(g_model, dtype=float)
    g_reference = np.asarray(g_reference, dtype=float)
    if g_model.shape != g_reference.shape:
        raise ValueError('the two radial distribution functions must share their bins')
    total = g_reference.sum()
    if total <= 0:
        raise ValueError('the reference radial distribution function is empty')
    return float(np.abs(g_model - g_reference).sum() / total)


def angular_distribution(
    frames: Sequence[Atoms],
    cutoff_A: float = 2.8,  # noqa: N803 - the unit is part of the name
    bins: int = 90,
) -> tuple[np.ndarray, np.ndarray]:
    """Bond-angle distribution over ``frames``: angles j-i-k of neighbours j, k of i within ``cutoff_A``.

    :return: bin centres in degrees on [0, 180] and the probability density per degree (integrates to 1).
    """
    from ase.neighborlist import neighbor_list

    if not frames:
        raise ValueError('no frames for an angular distribution function')
    edges = np.linspace(0.0, 180.0, bins + 1)
    histogram = np.zeros(bins)
    for atoms in frames:
        first, vectors = neighbor_list('iD', atoms, cutoff_A)
        for centre in np.unique(first):
            bonds = vectors[first == centre]
            unit = bonds / np.linalg.norm(bonds, axis=1)[:, None]
            cosines = (unit @ unit.T)[np.triu_indices(len(unit), k=1)]
            angles = np.degrees(np.arccos(np.clip(cosines, -1.0, 1.0)))
            histogram += np.histogram(angles, bins=edges)[0]
    total = histogram.sum()
    if total == 0:
        raise ValueError(f'no atom has two neighbours within {cutoff_A} A: no bond angles')
    return 0.5 * (edges[1:] + edges[:-1]), histogram / total / np.diff(edges)
