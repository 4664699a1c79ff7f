"""The input of ``mlipgen-explore``: one JSON or YAML file, read and checked before any MD runs.

Example (YAML; every key not marked optional is required)::

    models: [member0.nequip.zip, member1.nequip.zip]   # >= 2 files, paths relative to this file
    structures: {si64: si64.extxyz}                    # name -> file (first frame is used)
    temperatures_K: [300, 1000]      # or per structure: {crystal: [300, 900, 1500], liquid: [2500]}
    pressures_GPa: [0.0, 5.0]        # NPT ensembles only
    ensemble: nvt-langevin           # nvt-langevin | nvt-nose-hoover | npt-mtk | npt-mtk-isotropic
    timestep_fs: 1.0
    steps: 2000
    stride: 10                       # all members evaluated every `stride` steps
    driver: member0                  # optional: member0 (default) | mean
    thermostat_damping_fs: 100       # optional: Langevin 1/friction, Nose-Hoover tdamp
    barostat_damping_fs: 1000        # optional: MTK pdamp
    force_trust_lo: 0.05             # optional, eV/A, max force deviation
    force_trust_hi: 0.15             # optional, eV/A
    energy_trust_lo: 0.01            # optional, eV/atom, with energy_trust_hi
    energy_trust_hi: 0.05            # optional, eV/atom
    stress_trust_lo: 0.5             # optional, GPa, with stress_trust_hi
    stress_trust_hi: 2.0             # optional, GPa
    stop_after: 5                    # optional: consecutive checks above force_trust_hi that stop a run
    seed: 0                          # optional: velocities and Langevin noise (+ condition index)
    # The trust-level keys are those of aiida_mlipgen.science.contract.TrustLevels, as everywhere.
    write_frames: all                # optional: all | candidates (sampled frames written)
    full_trajectory: false           # optional: also write every `trajectory_interval` steps
    trajectory_interval: 1           # optional
    device: cpu                      # optional: cpu | cuda

``temperatures_K`` given per structure explores each structure at its own temperatures only (structures it
does not name are not explored), so that a crystal is not melted at the liquid's temperature: the per-system
temperatures of DP-GEN's ``model_devi_jobs`` (``sys_idx`` with ``temps``; Zhang et al., Comput. Phys.
Commun. 253, 107206 (2020)).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ase import Atoms

from aiida_mlipgen.science.contract import TRUST_KEYS, TrustLevels, check_structure_name, condition_label

NVT_ENSEMBLES = ('nvt-langevin', 'nvt-nose-hoover')
NPT_ENSEMBLES = ('npt-mtk', 'npt-mtk-isotropic')
ENSEMBLES = NVT_ENSEMBLES + NPT_ENSEMBLES
DRIVERS = ('member0', 'mean')
WRITE_FRAMES = ('all', 'candidates')

REQUIRED_KEYS = ('models', 'structures', 'temperatures_K', 'ensemble', 'timestep_fs', 'steps', 'stride')
OPTIONAL_KEYS = (
    'pressures_GPa',
    'driver',
    'thermostat_damping_fs',
    'barostat_damping_fs',
    *TRUST_KEYS,
    'stop_after',
    'seed',
    'write_frames',
    'full_trajectory',
    'trajectory_interval',
    'device',
)


@dataclass(frozen=True)
class Condition:
    """One point of the exploration grid."""

    index: int
    structure: str
    temperature_K: float  # noqa: N815 (unit in the name, as ASE writes it)
    pressure_GPa: float | None  # noqa: N815

    @property
    def label(self) -> str:
        """A name safe in file names and extxyz ``info``, e.g. ``si64_300K`` or ``si64_300K_5GPa``."""
        return condition_label(self.structure, self.temperature_K, self.pressure_GPa)


@dataclass
class ExplorationSettings:
    """Checked exploration input. Units: K, GPa, fs; deviations eV/A, eV/atom, GPa."""

    models: list[Path]
    structures: dict[str, Atoms]
    #: One list for every structure, or a list per structure name (structures left out are not explored).
    temperatures_K: list[float] | dict[str, list[float]]  # noqa: N815
    pressures_GPa: list[float] | None  # noqa: N815
    ensemble: str
    timestep_fs: float
    steps: int
    stride: int
    driver: str = 'member0'
    thermostat_damping_fs: float = 100.0
    barostat_damping_fs: float = 1000.0
    trust_levels: TrustLevels = field(default_factory=TrustLevels)
    stop_after: int = 5
    seed: int = 0
    write_frames: str = 'all'
    full_trajectory: bool = False
    trajectory_interval: int = 1
    device: str = 'cpu'

    @property
    def is_npt(self) -> bool:
        return self.ensemble in NPT_ENSEMBLES

    def temperatures_for(self, structure: str) -> list[float]:
        """Temperatures (K) at which ``structure`` is explored; [] when a per-structure mapping leaves it out."""
        return structure_temperatures(self.temperatures_K, structure)

    def conditions(self) -> list[Condition]:
        """The grid structure x temperature (x pressure), in a fixed order."""
        pressures = self.pressures_GPa if self.is_npt else [None]
        grid = (
            (name, temperature, pressure)
            for name in self.structures
            for temperature, pressure in itertools.product(self.temperatures_for(name), pressures)
        )
        return [
            Condition(index=index, structure=name, temperature_K=temperature, pressure_GPa=pressure)
            for index, (name, temperature, pressure) in enumerate(grid)
        ]

    def as_dict(self) -> dict:
        """JSON-ready summary of the settings (structures by name and size)."""
        return {
            'models': [str(path) for path in self.models],
            'structures': {name: len(atoms) for name, atoms in self.structures.items()},
            'temperatures_K': self.temperatures_K,
            'pressures_GPa': self.pressures_GPa,
            'ensemble': self.ensemble,
            'timestep_fs': self.timestep_fs,
            'steps': self.steps,
            'stride': self.stride,
            'driver': self.driver,
            'thermostat_damping_fs': self.thermostat_damping_fs,
            'barostat_damping_fs': self.barostat_damping_fs,
            **self.trust_levels.to_dict(),
            'stop_after': self.stop_after,
            'seed': self.seed,
            'write_frames': self.write_frames,
            'full_trajectory': self.full_trajectory,
            'trajectory_interval': self.trajectory_interval,
            'device': self.device,
        }


def _number(raw: Mapping, key: str, default=None, positive: bool = False) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f'`{key}` must be a finite number, got {value!r}')
    if positive and value <= 0:
        raise ValueError(f'`{key}` must be positive, got {value}')
    return float(value)


def _integer(raw: Mapping, key: str, default=None, minimum: int = 1) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f'`{key}` must be an integer, got {value!r}')
    if value < minimum:
        raise ValueError(f'`{key}` must be at least {minimum}, got {value}')
    return value


def _choice(raw: Mapping, key: str, choices: tuple[str, ...], default=None) -> str:
    value = raw.get(key, default)
    if value not in choices:
        raise ValueError(f'`{key}` must be one of {", ".join(choices)}; got {value!r}')
    return value


def _number_list(raw: Mapping, key: str, positive: bool = False) -> list[float]:
    values = raw.get(key)
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError(f'`{key}` must be a non-empty list of numbers (the grid would be empty), got {values!r}')
    return [_number({key: value}, key, positive=positive) for value in values]


def structure_temperatures(temperatures: list[float] | Mapping[str, list[float]], structure: str) -> list[float]:
    """The temperatures (K) of ``structure`` from a list for all structures or a mapping per structure."""
    if isinstance(temperatures, Mapping):
        return list(temperatures.get(structure, []))
    return list(temperatures)


def _temperatures(raw: Mapping, structure_names) -> list[float] | dict[str, list[float]]:
    """``temperatures_K``: a non-empty list (every structure), or a mapping structure name -> non-empty list."""
    values = raw.get('temperatures_K')
    if not isinstance(values, Mapping):
        return _number_list(raw, 'temperatures_K', positive=True)
    unknown = sorted(set(values) - set(structure_names))
    if unknown:
        raise ValueError(
            f'`temperatures_K` names structures that are not explored: {", ".join(map(str, unknown))} '
            f'(structures: {", ".join(structure_names)})'
        )
    if not values:
        raise ValueError('`temperatures_K` is an empty mapping: no structure would be explored')
    return {
        name: _number_list({f'temperatures_K.{name}': values[name]}, f'temperatures_K.{name}', positive=True)
        for name in structure_names
        if name in values
    }


def _resolve(path: str, base: Path) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else base / candidate


def _read_structures(raw: Mapping, base: Path) -> dict[str, Atoms]:
    from ase.io import read

    entries = raw.get('structures')
    if not isinstance(entries, Mapping) or not entries:
        raise ValueError(
            f'`structures` must be a non-empty mapping name -> file (the grid would be empty), got {entries!r}'
        )
    structures = {}
    for name, filename in entries.items():
        check_structure_name(name)
        path = _resolve(str(filename), base)
        if not path.is_file():
            raise ValueError(f'structure `{name}`: file `{path}` does not exist')
        atoms = read(str(path), index=0)
        if len(atoms) == 0:
            raise ValueError(f'structure `{name}` in `{path}` has no atoms')
        atoms.calc = None
        structures[name] = atoms
    return structures


def parse_settings(raw: Mapping, base: Path = Path('.')) -> ExplorationSettings:
    """Check a raw input mapping and return the settings; model and structure paths are relative to ``base``.

    :raises ValueError: naming the first problem found (missing or unknown key, bad value, empty grid).
    """
    if not isinstance(raw, Mapping):
        raise ValueError(f'the exploration input must be a mapping, got {type(raw).__name__}')
    missing = [key for key in REQUIRED_KEYS if key not in raw]
    if missing:
        raise ValueError(f'missing required input keys: {", ".join(missing)}')
    unknown = sorted(set(raw) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise ValueError(
            f'unknown input keys: {", ".join(unknown)} (allowed: {", ".join(REQUIRED_KEYS + OPTIONAL_KEYS)})'
        )

    models = raw['models']
    if not isinstance(models, (list, tuple)) or len(models) < 2:
        raise ValueError(f'`models` must list at least two model files (a committee), got {models!r}')
    model_paths = [_resolve(str(path), base) for path in models]
    for path in model_paths:
        if not path.is_file():
            raise ValueError(f'model file `{path}` does not exist')

    ensemble = _choice(raw, 'ensemble', ENSEMBLES)
    pressures = None
    if ensemble in NPT_ENSEMBLES:
        pressures = _number_list(raw, 'pressures_GPa')
    elif raw.get('pressures_GPa') is not None:
        raise ValueError(
            f'`pressures_GPa` is given but ensemble `{ensemble}` keeps the volume fixed; use an npt ensemble'
        )

    steps = _integer(raw, 'steps')
    stride = _integer(raw, 'stride')
    if stride > steps:
        raise ValueError(f'`stride` ({stride}) is larger than `steps` ({steps}): no frame would be checked')
    full_trajectory = raw.get('full_trajectory', False)
    if not isinstance(full_trajectory, bool):
        raise ValueError(f'`full_trajectory` must be true or false, got {full_trajectory!r}')

    structures = _read_structures(raw, base)
    trust_levels = TrustLevels.from_dict({key: raw[key] for key in TRUST_KEYS if raw.get(key) is not None})
    for name, atoms in structures.items():
        if atoms.pbc.all() and atoms.cell.rank == 3:
            continue
        if ensemble in NPT_ENSEMBLES:
            raise ValueError(f'structure `{name}` is not periodic in 3D: NPT needs a full cell')
        if trust_levels.stress is not None:
            raise ValueError(f'structure `{name}` is not periodic in 3D: it has no stress for `stress_trust_lo/hi`')

    return ExplorationSettings(
        models=model_paths,
        structures=structures,
        temperatures_K=_temperatures(raw, list(structures)),
        pressures_GPa=pressures,
        ensemble=ensemble,
        timestep_fs=_number(raw, 'timestep_fs', positive=True),
        steps=steps,
        stride=stride,
        driver=_choice(raw, 'driver', DRIVERS, 'member0'),
        thermostat_damping_fs=_number(raw, 'thermostat_damping_fs', 100.0, positive=True),
        barostat_damping_fs=_number(raw, 'barostat_damping_fs', 1000.0, positive=True),
        trust_levels=trust_levels,
        stop_after=_integer(raw, 'stop_after', 5),
        seed=_integer(raw, 'seed', 0, minimum=0),
        write_frames=_choice(raw, 'write_frames', WRITE_FRAMES, 'all'),
        full_trajectory=full_trajectory,
        trajectory_interval=_integer(raw, 'trajectory_interval', 1),
        device=_choice(raw, 'device', ('cpu', 'cuda'), 'cpu'),
    )


def load_settings(path: str | Path) -> ExplorationSettings:
    """Read a JSON (``.json``) or YAML file and check it with :func:`parse_settings`."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f'input file `{path}` does not exist')
    text = path.read_text(encoding='utf-8')
    if path.suffix == '.json':
        raw = json.loads(text)
    else:
        import yaml

        raw = yaml.safe_load(text)
    return parse_settings(raw, base=path.parent)
