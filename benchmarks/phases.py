"""Silicon phases for the benchmarks, made and sampled by Langevin MD with the Stillinger-Weber teacher.

Five starting structures of 64 atoms (63 for the vacancy), all periodic:

* ``crystal``: cubic diamond, 2 x 2 x 2 conventional cells, a = 5.431 A (the SW equilibrium);
* ``vacancy``: the crystal less one atom;
* ``slab``: an unreconstructed Si(100) slab of 8 layers of 8 atoms (``ase.build.diamond100``), with
  6 A of vacuum on each side, more than the SW (3.77 A) and model (4 A) cutoffs;
* ``liquid``: the crystal melted at 3500 K, then held at 2500 K (SW melts at about 1690 K);
* ``amorphous``: that liquid quenched linearly to 300 K, then held there.

:func:`langevin_frames` samples one of them at one temperature and labels every kept frame with the
teacher (:mod:`aiida_mlipgen.science.teacher`: Stillinger-Weber, PRB 31, 5262). Units: K, fs, A; labels
in eV, eV/A and eV/A^3. Every function takes its own seed, so a test set and a training pool built with
different seeds share no trajectory.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from ase import Atoms, units
from ase.build import bulk, diamond100
from ase.calculators.calculator import Calculator
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta

from aiida_mlipgen.science.teacher import label_frames, stillinger_weber_silicon

#: Lattice constant of cubic diamond Si at the Stillinger-Weber minimum, A.
LATTICE_CONSTANT_A = 5.431
#: The phases in the order tables and plots show them.
PHASES = ('crystal', 'liquid', 'amorphous', 'vacancy', 'slab')


@dataclass(frozen=True)
class MDSettings:
    """Langevin MD: time step and thermostat damping time (1 / friction), fs."""

    timestep_fs: float = 2.0
    damping_fs: float = 100.0


@dataclass(frozen=True)
class MeltQuench:
    """Steps of the melt-quench that makes the liquid and the amorphous structures.

    melt_steps at ``melt_temperature_K``, then liquid_steps at ``liquid_temperature_K`` (the liquid);
    then quench_steps of linear cooling to ``glass_temperature_K`` and hold_steps there (the amorphous).
    With 2 fs steps the default quench cools at about 7e14 K/s: a fast-quenched, defective amorphous.
    """

    melt_steps: int = 600
    liquid_steps: int = 400
    quench_steps: int = 1500
    hold_steps: int = 100
    melt_temperature_K: float = 3500.0  # noqa: N815 - unit in the name
    liquid_temperature_K: float = 2500.0  # noqa: N815
    glass_temperature_K: float = 300.0  # noqa: N815


def crystal() -> Atoms:
    """Cubic diamond Si, 2 x 2 x 2 conventional cells: 64 atoms, 10.86 A edges."""
    return bulk('Si', 'diamond', a=LATTICE_CONSTANT_A, cubic=True).repeat(2)


def vacancy() -> Atoms:
    """The 64-atom crystal with atom 0 removed: 63 atoms."""
    atoms = crystal()
    del atoms[0]
    return atoms


def slab_100(vacuum_A: float = 6.0) -> Atoms:  # noqa: N803 - unit in the name
    """Unreconstructed Si(100): 8 layers of 2 x 4 surface cells (64 atoms), ``vacuum_A`` each side, periodic."""
    slab = diamond100('Si', size=(2, 4, 8), a=LATTICE_CONSTANT_A, vacuum=vacuum_A, periodic=True)
    slab.info.clear()  # ASE's adsorption-site notes: arrays that extxyz files need not carry
    return slab


def _bare(atoms: Atoms) -> Atoms:
    """A copy with positions, cell and info only (no calculator, momenta or constraints)."""
    copy = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    copy.info.update(atoms.info)
    return copy


def _langevin(
    atoms: Atoms,
    calculator: Calculator,
    temperature_K: float,  # noqa: N803 - unit in the name
    rng: np.random.Generator,
    settings: MDSettings,
) -> Langevin:
    """A Langevin integrator on a working copy of ``atoms`` with momenta drawn at ``temperature_K``."""
    atoms.set_constraint(FixCom())
    atoms.calc = calculator
    thermalize_momenta(atoms, temperature_K, rng=rng)
    Stationary(atoms)
    return Langevin(
        atoms,
        settings.timestep_fs * units.fs,
        temperature_K=temperature_K,
        friction=1.0 / (settings.damping_fs * units.fs),
        fixcm=False,
        rng=rng,
    )


def melt_quench(seed: int, recipe: MeltQuench | None = None, settings: MDSettings | None = None) -> tuple[Atoms, Atoms]:
    """The liquid and the amorphous structure of one melt-quench of :func:`crystal` (bare copies)."""
    recipe = recipe or MeltQuench()
    calculator = stillinger_weber_silicon()
    atoms = crystal()
    rng = np.random.default_rng(seed)
    dynamics = _langevin(atoms, calculator, recipe.melt_temperature_K, rng, settings or MDSettings())
    dynamics.run(recipe.melt_steps)
    dynamics.set_temperature(temperature_K=recipe.liquid_temperature_K)
    dynamics.run(recipe.liquid_steps)
    liquid = _bare(atoms)
    blocks = max(1, recipe.quench_steps // 50)
    for temperature in np.linspace(recipe.liquid_temperature_K, recipe.glass_temperature_K, blocks + 1)[1:]:
        dynamics.set_temperature(temperature_K=float(temperature))
        dynamics.run(recipe.quench_steps // blocks)
    dynamics.run(recipe.hold_steps)
    return liquid, _bare(atoms)


def phase_structures(
    seed: int, recipe: MeltQuench | None = None, settings: MDSettings | None = None
) -> dict[str, Atoms]:
    """The five starting structures, keyed by phase name (liquid and amorphous from a melt-quench seeded ``seed``)."""
    liquid, amorphous = melt_quench(seed, recipe, settings)
    return {'crystal': crystal(), 'liquid': liquid, 'amorphous': amorphous, 'vacancy': vacancy(), 'slab': slab_100()}


@dataclass(frozen=True)
class PhaseCondition:
    """One MD condition: a phase's starting structure at a temperature (K)."""

    phase: str
    temperature_K: float  # noqa: N815 - unit in the name

    @property
    def label(self) -> str:
        """E.g. ``crystal_300K``, the form exploration gives its conditions."""
        return f'{self.phase}_{self.temperature_K:g}K'


def langevin_frames(
    start: Atoms,
    temperature_K: float,  # noqa: N803 - unit in the name
    num_frames: int,
    interval: int,
    seed: int,
    equilibration_steps: int = 100,
    settings: MDSettings | None = None,
    calculator: Calculator | None = None,
    info: dict | None = None,
) -> list[Atoms]:
    """Teacher-labelled frames of Langevin MD of ``start`` at ``temperature_K``.

    Momenta are drawn at the temperature, ``equilibration_steps`` are run, then one frame is kept every
    ``interval`` steps. ``seed`` seeds the momenta and the Langevin noise. Frames carry ``info``.
    """
    settings = settings or MDSettings()
    calculator = calculator or stillinger_weber_silicon()
    atoms = _bare(start)
    dynamics = _langevin(atoms, calculator, temperature_K, np.random.default_rng(seed), settings)
    dynamics.run(equilibration_steps)
    frames = []
    for _ in range(num_frames):
        dynamics.run(interval)
        frame = _bare(atoms)
        frame.info.update(info or {})
        frames.append(frame)
    return label_frames(frames, calculator)


def _sample_one(arguments: tuple) -> list[Atoms]:
    """:func:`langevin_frames` of one condition (a process-pool task)."""
    return langevin_frames(*arguments)


def sample_conditions(
    structures: dict[str, Atoms],
    conditions: Sequence[PhaseCondition],
    num_frames: int,
    interval: int,
    seed: int,
    equilibration_steps: int = 100,
    settings: MDSettings | None = None,
    processes: int = 1,
) -> list[Atoms]:
    """Teacher-labelled MD frames of every condition, each run seeded ``seed * 1000 + its index``.

    Frames carry ``phase``, ``temperature_K`` and ``condition`` (e.g. ``slab_900K``) in their info.
    With ``processes`` > 1 the conditions run in that many processes (same frames, in the same order).
    """
    tasks = [
        (
            structures[condition.phase],
            condition.temperature_K,
            num_frames,
            interval,
            seed * 1000 + index,
            equilibration_steps,
            settings,
            None,
            {'phase': condition.phase, 'temperature_K': condition.temperature_K, 'condition': condition.label},
        )
        for index, condition in enumerate(conditions)
    ]
    if processes > 1:
        with ProcessPoolExecutor(max_workers=processes) as pool:
            batches = list(pool.map(_sample_one, tasks))
    else:
        batches = [_sample_one(task) for task in tasks]
    return [atoms for batch in batches for atoms in batch]
