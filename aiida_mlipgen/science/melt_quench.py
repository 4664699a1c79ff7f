"""Liquid and amorphous frames by melt-quench MD with a cheap potential (ASE Langevin dynamics).

The supercell is heated and held at ``melt_temperature_K`` (liquid frames are taken evenly over the
second half of the hold), then cooled linearly to ``final_temperature_K`` over ``quench_steps`` (the
amorphous/quenched frames are taken evenly over the last quarter of the ramp). This is the usual
route to liquid and amorphous training data (e.g. Deringer et al., a-Si GAP, Phys. Rev. X 8, 041048
(2018); autoplex's random structure search plays the same role). Fast quenches of small cells give
defective amorphous structures: that is wanted here, since the frames are training data, not models
of the glass. Units: K, fs, A.

Every frame records ``info['generator'] = 'melt_quench'``, ``phase`` (``'liquid'`` or ``'quenched'``),
``temperature_K`` (thermostat target when taken) and ``md_step``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

from aiida_mlipgen.science.generators import make_supercell
from aiida_mlipgen.science.structure_tools import (
    bare_copy,
    check_positive_int,
    enforce_max_atoms,
    settings_from_dict,
)


@dataclass(frozen=True)
class MeltQuenchSettings:
    """Melt-quench MD of a supercell of the seed.

    potential: name of a classical potential (``aiida_mlipgen.science.teacher.CLASSICAL_POTENTIALS``).
    melt_temperature_K / final_temperature_K: thermostat targets of the melt and the end of the quench, K.
    melt_steps / quench_steps: MD steps of the hold at the melt temperature and of the linear cooling ramp.
    timestep_fs: MD time step, fs.
    friction_per_fs: Langevin friction, 1/fs.
    liquid_frames / quenched_frames: frames kept from the melt and from the end of the quench.
    min_atoms: the MD cell is the smallest diagonal supercell of the seed with this many atoms (None: the seed).
    max_atoms: refuse larger cells (each frame may be labelled with DFT).
    seed: random seed of the velocities and the thermostat.
    """

    potential: str = 'stillinger_weber_si'
    melt_temperature_K: float = 3000.0  # noqa: N815 - unit in the name
    final_temperature_K: float = 300.0  # noqa: N815
    melt_steps: int = 2000
    quench_steps: int = 2000
    timestep_fs: float = 1.0
    friction_per_fs: float = 0.01
    liquid_frames: int = 2
    quenched_frames: int = 2
    min_atoms: int | None = None
    max_atoms: int = 64
    seed: int = 0

    def __post_init__(self):
        if not self.melt_temperature_K > self.final_temperature_K > 0:
            raise ValueError(
                'melt_quench needs melt_temperature_K > final_temperature_K > 0, got '
                f'{self.melt_temperature_K} and {self.final_temperature_K}'
            )
        if not (self.timestep_fs > 0 and self.friction_per_fs > 0):
            raise ValueError('melt_quench.timestep_fs and friction_per_fs must be > 0')
        for name in ('melt_steps', 'quench_steps', 'max_atoms'):
            check_positive_int(getattr(self, name), f'melt_quench.{name}')
        for name in ('liquid_frames', 'quenched_frames'):
            check_positive_int(getattr(self, name), f'melt_quench.{name}', allow_zero=True)
        if self.liquid_frames > self.melt_steps // 2 or self.quenched_frames > self.quench_steps // 4:
            raise ValueError('melt_quench asks for more frames than MD steps to take them from')
        if self.min_atoms is not None:
            check_positive_int(self.min_atoms, 'melt_quench.min_atoms')

    @classmethod
    def from_dict(cls, values: Mapping | None) -> MeltQuenchSettings:
        """Settings from a plain dict (unknown keys refused)."""
        return settings_from_dict(cls, values, 'melt_quench')


def _sample_steps(start: int, stop: int, count: int) -> set[int]:
    """``count`` steps spread evenly over (start, stop], the last one included."""
    if count == 0:
        return set()
    return {int(round(step)) for step in np.linspace(stop, start, count, endpoint=False)}


def melt_quench_frames(seed: Atoms, settings: MeltQuenchSettings, calculator: Calculator) -> list[Atoms]:
    """Liquid then quenched frames (positions only, no labels) of a melt-quench run with ``calculator``."""
    atoms = make_supercell(seed, min_atoms=settings.min_atoms) if settings.min_atoms else bare_copy(seed)
    enforce_max_atoms([atoms], settings.max_atoms, 'melt_quench')
    atoms.calc = calculator
    rng = np.random.default_rng(settings.seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=settings.melt_temperature_K, rng=rng)
    Stationary(atoms)
    dynamics = Langevin(
        atoms,
        timestep=settings.timestep_fs * units.fs,
        temperature_K=settings.melt_temperature_K,
        friction=settings.friction_per_fs / units.fs,
        rng=rng,
    )
    frames = []

    def keep(phase: str, step: int, temperature: float):
        frame = bare_copy(atoms)
        frame.wrap()
        frame.info = {'generator': 'melt_quench', 'phase': phase, 'temperature_K': float(temperature), 'md_step': step}
        frames.append(frame)

    melt, quench = settings.melt_steps, settings.quench_steps
    liquid = _sample_steps(melt // 2, melt, settings.liquid_frames)
    for step in range(1, melt + 1):
        dynamics.run(1)
        if step in liquid:
            keep('liquid', step, settings.melt_temperature_K)
    quenched = _sample_steps(quench - quench // 4, quench, settings.quenched_frames)
    for step in range(1, quench + 1):
        target = (
            settings.melt_temperature_K + (settings.final_temperature_K - settings.melt_temperature_K) * step / quench
        )
        dynamics.set_temperature(temperature_K=target)
        dynamics.run(1)
        if step in quenched:
            keep('quenched', melt + step, target)
    return frames
