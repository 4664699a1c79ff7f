"""Exploration MD with ASE, driven by a NequIP committee, with committee deviations on the fly.

One MD run per condition (structure, temperature, pressure). The MD is driven by member 0 or by the
committee mean; every ``stride`` steps all members are evaluated on the current frame (member 0's
result is reused, so a check costs N - 1 extra evaluations), the frame is classified with
:mod:`aiida_mlipgen.science.selection`, and the run stops early when the max force deviation stays
at or above ``force_trust_hi`` for ``stop_after`` consecutive checks, or a prediction is not finite.
Units: K, GPa, fs; energies eV, forces eV/A, stresses eV/A^3 (ASE convention).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes

from aiida_mlipgen.science.contract import FORCE_DEVIATION_PER_ATOM
from aiida_mlipgen.science.deviations import FrameDeviation, per_atom_force_deviation
from aiida_mlipgen.science.selection import classify_frames

from .committee import Committee, CommitteePrediction
from .exploration_settings import Condition, ExplorationSettings


class CommitteeCalculator(Calculator):
    """ASE calculator giving member 0's (``driver='member0'``) or the committee mean's results."""

    implemented_properties = ['energy', 'free_energy', 'forces', 'stress']

    def __init__(self, committee: Committee, driver: str = 'member0', **kwargs):
        if driver not in ('member0', 'mean'):
            raise ValueError(f"driver must be 'member0' or 'mean', got {driver!r}")
        super().__init__(**kwargs)
        self.committee = committee
        self.driver = driver
        self._prediction: CommitteePrediction | None = None

    def calculate(self, atoms=None, properties=('energy',), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        members = None if self.driver == 'mean' else [0]
        self._prediction = self.committee.predict([self.atoms], batch_size=1, members=members)
        results = self._prediction.mean(0)
        self.results = {
            'energy': results['energy'],
            'free_energy': results['energy'],
            'forces': results['forces'],
            'stress': results['stress'],
        }

    def committee_prediction(self, atoms: Atoms) -> CommitteePrediction:
        """All members' predictions for ``atoms`` (re-using what driving the MD already computed)."""
        self.get_property('forces', atoms)  # brings self._prediction up to date with atoms
        if self.driver == 'mean':
            return self._prediction
        others = list(range(1, len(self.committee)))
        rest = self.committee.predict([atoms], batch_size=1, members=others)
        return CommitteePrediction.stack([self._prediction, rest])


def build_dynamics(atoms: Atoms, settings: ExplorationSettings, condition: Condition, seed: int):
    """The ASE integrator of ``settings.ensemble`` for ``condition``."""
    from ase.md.langevin import Langevin
    from ase.md.nose_hoover_chain import MTKNPT, IsotropicMTKNPT, NoseHooverChainNVT

    timestep = settings.timestep_fs * units.fs
    tdamp = settings.thermostat_damping_fs * units.fs
    temperature = condition.temperature_K
    if settings.ensemble == 'nvt-langevin':
        return Langevin(
            atoms, timestep, temperature_K=temperature, friction=1 / tdamp, fixcm=False, rng=np.random.default_rng(seed)
        )
    if settings.ensemble == 'nvt-nose-hoover':
        return NoseHooverChainNVT(atoms, timestep, temperature_K=temperature, tdamp=tdamp)
    integrator = MTKNPT if settings.ensemble == 'npt-mtk' else IsotropicMTKNPT
    return integrator(
        atoms,
        timestep,
        temperature_K=temperature,
        pressure_au=condition.pressure_GPa * units.GPa,
        tdamp=tdamp,
        pdamp=settings.barostat_damping_fs * units.fs,
    )


@dataclass
class ConditionResult:
    """What one exploration run produced: sampled frames and statistics."""

    condition: Condition
    frames: list[Atoms] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    deviations: list[FrameDeviation] = field(default_factory=list)
    temperatures_K: list[float] = field(default_factory=list)  # noqa: N815
    steps_done: int = 0
    stopped_early: bool = False
    stop_reason: str | None = None
    wall_seconds: float = 0.0

    def statistics(self, steps_requested: int) -> dict:
        """JSON-ready per-condition statistics."""
        from aiida_mlipgen.science.selection import class_counts

        counts = class_counts(self.classes)
        max_force = np.array([d.max_force_deviation for d in self.deviations], dtype=float)
        finite = max_force[np.isfinite(max_force)]
        later = self.temperatures_K[1:] or self.temperatures_K  # the first check is the start, not the MD
        return {
            'label': self.condition.label,
            'structure': self.condition.structure,
            'temperature_K': self.condition.temperature_K,
            'pressure_GPa': self.condition.pressure_GPa,
            'steps_requested': steps_requested,
            'steps_done': self.steps_done,
            'stopped_early': self.stopped_early,
            'stop_reason': self.stop_reason,
            'checks': len(self.classes),
            **{key: counts[key] for key in ('accurate', 'candidate', 'failed')},
            **{key: counts[key] for key in ('accurate_fraction', 'candidate_fraction', 'failed_fraction')},
            'temperature_mean_K': _finite_or_none(np.mean(later)) if later else None,
            'temperature_final_K': _finite_or_none(self.temperatures_K[-1]) if self.temperatures_K else None,
            'max_force_deviation_mean': _finite_or_none(finite.mean()) if finite.size else None,
            'max_force_deviation_max': _finite_or_none(finite.max()) if finite.size else None,
            'wall_seconds': self.wall_seconds,
        }


def _thermalize(atoms: Atoms, temperature_K: float, rng: np.random.Generator) -> None:  # noqa: N803
    """Maxwell-Boltzmann momenta at ``temperature_K`` (ASE >= 3.29 renamed the function)."""
    try:
        from ase.md.velocitydistribution import thermalize_momenta as thermalize
    except ImportError:  # ASE < 3.29
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize  # noqa: N813
    thermalize(atoms, temperature_K=temperature_K, rng=rng)


def _finite_or_none(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _sampled_frame(atoms: Atoms, condition: Condition, step: int, settings: ExplorationSettings) -> Atoms:
    """A bare copy (no calculator: model predictions are not labels) with its provenance in ``info``."""
    frame = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    frame.info.update(
        condition=condition.label,
        structure=condition.structure,
        target_temperature_K=condition.temperature_K,
        step=step,
        time_fs=step * settings.timestep_fs,
        temperature_K=float(atoms.get_temperature()),
    )
    if condition.pressure_GPa is not None:
        frame.info['target_pressure_GPa'] = condition.pressure_GPa
    return frame


def run_condition(
    committee: Committee,
    settings: ExplorationSettings,
    condition: Condition,
    trajectory_writer: Callable[[Atoms], None] | None = None,
) -> ConditionResult:
    """Run the MD of one condition and return its sampled frames and statistics.

    :param trajectory_writer: called with a bare copy of the frame every
        ``settings.trajectory_interval`` steps (full trajectory), when given.
    """
    from ase.md.velocitydistribution import Stationary

    seed = settings.seed + condition.index
    atoms = settings.structures[condition.structure].copy()
    atoms.calc = CommitteeCalculator(committee, driver=settings.driver)
    _thermalize(atoms, condition.temperature_K, np.random.default_rng(seed))
    Stationary(atoms)
    dynamics = build_dynamics(atoms, settings, condition, seed)

    result = ConditionResult(condition=condition)
    above_hi = 0
    start = time.perf_counter()
    try:
        for _ in dynamics.irun(settings.steps):
            step = dynamics.nsteps
            result.steps_done = step
            if trajectory_writer is not None and step % settings.trajectory_interval == 0:
                trajectory_writer(_sampled_frame(atoms, condition, step, settings))
            if step % settings.stride:
                continue
            prediction = atoms.calc.committee_prediction(atoms)
            deviation = prediction.frame_deviation(0)
            (frame_class,) = classify_frames([deviation], settings.trust_levels)
            frame = _sampled_frame(atoms, condition, step, settings)
            frame.arrays[FORCE_DEVIATION_PER_ATOM] = per_atom_force_deviation(prediction.forces[0])
            for name in ('max_force_deviation', 'mean_force_deviation', 'energy_deviation_per_atom'):
                frame.info[name] = getattr(deviation, name)
            frame.info['stress_deviation'] = deviation.stress_deviation
            frame.info['class'] = frame_class
            result.frames.append(frame)
            result.classes.append(frame_class)
            result.deviations.append(deviation)
            result.temperatures_K.append(frame.info['temperature_K'])

            if not math.isfinite(deviation.max_force_deviation) or not math.isfinite(frame.info['temperature_K']):
                result.stopped_early = True
                result.stop_reason = f'non-finite committee predictions or temperature at step {step}'
                break
            above_hi = above_hi + 1 if deviation.max_force_deviation >= settings.trust_levels.force.hi else 0
            if above_hi >= settings.stop_after:
                result.stopped_early = True
                result.stop_reason = (
                    f'max force deviation >= force_trust_hi ({settings.trust_levels.force.hi} eV/A) for '
                    f'{above_hi} consecutive checks (every {settings.stride} steps), stopped at step {step}'
                )
                break
    except (RuntimeError, ValueError, FloatingPointError, MemoryError) as exception:
        # a blown-up structure can break the neighbour list or the model; record it, keep what we have
        result.stopped_early = True
        result.stop_reason = f'MD failed at step {result.steps_done}: {type(exception).__name__}: {exception}'
    result.wall_seconds = time.perf_counter() - start
    return result
