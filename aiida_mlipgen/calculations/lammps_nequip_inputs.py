"""LAMMPS inputs for MD with a deployed NequIP or Allegro model (``pair_style nequip`` / ``allegro``).

Plain functions write the structure data file and the input script; the calcfunction
``lammps_nequip_inputs`` makes them nodes, so the script of every run traces to its inputs. LAMMPS
``metal`` units: temperatures K, times ps, lengths A; pressures are given in GPa and written in bar.

The pair styles come from ``pair_nequip_allegro`` (LAMMPS >= 10 Sep 2025 built against libtorch): the
model is a ``nequip-compile`` output (``.nequip.pt2`` from ``--mode aotinductor --target pair_nequip`` or
``pair_allegro``, ``.nequip.pth`` from TorchScript), and ``pair_coeff * * <model> <type name of LAMMPS
type 1> ...``. ``pair_style nequip`` needs ``newton off`` (one MPI rank); ``allegro`` needs ``newton on``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from aiida import orm
from aiida.engine import calcfunction
from ase import Atoms
from ase.io.lammpsdata import write_lammps_data

#: Pair styles of ``pair_nequip_allegro``.
PAIR_STYLES = ('nequip', 'allegro')
#: File name endings the pair styles accept: AOTInductor, TorchScript.
COMPILED_SUFFIXES = ('.nequip.pt2', '.nequip.pth')
#: ``fix npt`` couplings of the cell to the pressure.
BAROSTAT_COUPLINGS = ('iso', 'aniso', 'tri')
#: Names in the job folder.
STRUCTURE_FILE = 'structure.data'
DUMP_FILE = 'trajectory.lammpstrj'
MODEL_STEM = 'model'
#: LAMMPS metal units give pressures in bar.
BAR_PER_GPA = 1.0e4


@dataclass(frozen=True)
class MDSettings:
    """One MD run: NVT (Nose-Hoover) at ``temperature``, or NPT when a ``pressure`` is given.

    :param temperature: thermostat target and initial velocity temperature, K.
    :param num_steps: MD steps.
    :param stride: positions are dumped every ``stride`` steps (and at step 0).
    :param timestep: ps.
    :param thermostat_damping: ps (about 100 timesteps is usual).
    :param pressure: barostat target, GPa; None for NVT.
    :param barostat_damping: ps (about 1000 timesteps is usual).
    :param barostat_coupling: ``iso``, ``aniso`` or ``tri`` (``fix npt`` keyword).
    :param seed: positive seed of the initial velocities.
    :param dump_forces: also dump the model's forces (``fx fy fz``); the committee evaluation does not use them.
    """

    temperature: float
    num_steps: int
    stride: int
    timestep: float = 0.001
    thermostat_damping: float = 0.1
    pressure: float | None = None
    barostat_damping: float = 1.0
    barostat_coupling: str = 'iso'
    seed: int = 1
    dump_forces: bool = False


@dataclass(frozen=True)
class PairSection:
    """How the forces are computed: the ``newton pair`` setting the pair style needs and its commands."""

    newton_pair: bool
    commands: tuple[str, ...]


def _positive(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def check_md_settings(settings: MDSettings) -> str | None:
    """A message for settings LAMMPS would refuse or that give no frame; None when they are fine."""
    for name in ('temperature', 'timestep', 'thermostat_damping', 'barostat_damping'):
        value = getattr(settings, name)
        if not _positive(value):
            unit = 'K' if name == 'temperature' else 'ps'
            return f'`{name}` must be a positive number ({unit}), got {value!r}.'
    if settings.num_steps < 1:
        return f'`num_steps` must be at least 1, got {settings.num_steps}.'
    if settings.stride < 1:
        return f'`stride` must be at least 1, got {settings.stride}.'
    if settings.stride > settings.num_steps:
        return (
            f'`stride` ({settings.stride}) is longer than the run ({settings.num_steps} steps): no frame after step 0.'
        )
    if settings.seed < 1:
        return f'`seed` must be a positive integer (LAMMPS velocity seeds are), got {settings.seed}.'
    if settings.thermostat_damping < settings.timestep:
        return f'`thermostat_damping` ({settings.thermostat_damping} ps) is shorter than the timestep.'
    if settings.pressure is not None:
        if isinstance(settings.pressure, bool) or not math.isfinite(settings.pressure):
            return f'`pressure` must be a finite number (GPa), got {settings.pressure!r}.'
        if settings.barostat_damping < settings.timestep:
            return f'`barostat_damping` ({settings.barostat_damping} ps) is shorter than the timestep.'
        if settings.barostat_coupling not in BAROSTAT_COUPLINGS:
            choices = ', '.join(BAROSTAT_COUPLINGS)
            return f'`barostat_coupling` must be one of {choices}, got `{settings.barostat_coupling}`.'
    return None


def compiled_suffix(filename: str) -> str | None:
    """The compiled-model ending of ``filename`` (``.nequip.pt2`` or ``.nequip.pth``), or None."""
    return next((suffix for suffix in COMPILED_SUFFIXES if filename.endswith(suffix)), None)


def check_deployed_model(filename: str) -> str | None:
    """The pair styles load only ``nequip-compile`` outputs, told apart by their file name ending."""
    if compiled_suffix(filename) is None:
        return (
            f'the deployed model `{filename}` is not a `nequip-compile` output: LAMMPS needs a file ending in '
            f'{" or ".join(COMPILED_SUFFIXES)} (a `.nequip.zip` package must be compiled on the machine that runs MD).'
        )
    return None


def deployed_model_filename(filename: str) -> str:
    """Name of the compiled model in the job folder: ``model.nequip.pt2`` or ``model.nequip.pth``."""
    suffix = compiled_suffix(filename)
    if suffix is None:
        raise ValueError(check_deployed_model(filename))
    return f'{MODEL_STEM}{suffix}'


def lammps_type_symbols(symbols: Sequence[str]) -> list[str]:
    """Chemical symbols of LAMMPS atom types 1, 2, ...: the structure's elements, sorted."""
    return sorted(set(symbols))


def pair_section(pair_style: str, model_filename: str, type_symbols: Sequence[str]) -> PairSection:
    """``pair_style nequip|allegro`` and ``pair_coeff * * <model> <symbols>``, with the newton setting it needs.

    The model's type names are the chemical symbols (true of every model this package trains).
    """
    if pair_style not in PAIR_STYLES:
        raise ValueError(f'pair style must be one of {", ".join(PAIR_STYLES)}, got `{pair_style}`')
    return PairSection(
        newton_pair=pair_style == 'allegro',
        commands=(f'pair_style      {pair_style}', f'pair_coeff      * * {model_filename} {" ".join(type_symbols)}'),
    )


def structure_data_file(atoms: Atoms, type_symbols: Sequence[str], triclinic: bool = False) -> str:
    """LAMMPS data file (``atom_style atomic``, metal units, masses) of a periodic structure.

    ASE rotates the cell into LAMMPS's lower-triangular form; ``triclinic`` writes tilt factors even for
    an orthogonal cell (``fix npt ... tri`` needs them).
    """
    buffer = io.StringIO()
    write_lammps_data(
        buffer,
        atoms,
        specorder=list(type_symbols),
        masses=True,
        units='metal',
        atom_style='atomic',
        force_skew=triclinic,
    )
    return buffer.getvalue()


def _number(value: float) -> str:
    return repr(float(value))


def md_script(
    settings: MDSettings, pair: PairSection, structure_file: str = STRUCTURE_FILE, dump_file: str = DUMP_FILE
) -> str:
    """The LAMMPS input script of one MD run that dumps positions (sorted by atom id) every ``stride`` steps."""
    temperature = _number(settings.temperature)
    thermostat = f'temp {temperature} {temperature} {_number(settings.thermostat_damping)}'
    if settings.pressure is None:
        ensemble = f'fix             md all nvt {thermostat}'
    else:
        pressure = _number(settings.pressure * BAR_PER_GPA)
        barostat = f'{settings.barostat_coupling} {pressure} {pressure} {_number(settings.barostat_damping)}'
        ensemble = f'fix             md all npt {thermostat} {barostat}'
    columns = 'id type x y z' + (' fx fy fz' if settings.dump_forces else '')
    lines = [
        '# MD with a deployed NequIP-framework model, written by aiida-mlipgen (LAMMPS metal units).',
        'units           metal',
        'atom_style      atomic',
        'boundary        p p p',
        f'newton          {"on" if pair.newton_pair else "off"}',
        f'read_data       {structure_file}',
        '',
        *pair.commands,
        '',
        'neighbor        1.0 bin',
        'neigh_modify    every 1 delay 0 check yes',
        f'timestep        {_number(settings.timestep)}',
        f'velocity        all create {temperature} {settings.seed} dist gaussian mom yes',
        ensemble,
        '',
        'thermo_style    custom step time temp pe ke etotal press vol',
        f'thermo          {settings.stride}',
        f'dump            frames all custom {settings.stride} {dump_file} {columns}',
        'dump_modify     frames sort id format float %.17g',
        f'run             {settings.num_steps}',
        '',
    ]
    return '\n'.join(lines)


def _optional(node, default):
    return default if node is None else node.value


@calcfunction
def lammps_nequip_inputs(
    structure: orm.StructureData,
    deployed_model: orm.SinglefileData,
    pair_style: orm.Str,
    temperature: orm.Float,
    num_steps: orm.Int,
    stride: orm.Int,
    timestep: orm.Float,
    thermostat_damping: orm.Float,
    seed: orm.Int,
    dump_forces: orm.Bool,
    pressure: orm.Float | None = None,
    barostat_damping: orm.Float | None = None,
    barostat_coupling: orm.Str | None = None,
) -> dict:
    """Input script and structure data file of one LAMMPS MD run with a deployed model.

    :return: ``script`` (``input.in``), ``structure_file`` (``structure.data``) and ``type_symbols`` (the
        chemical symbols of LAMMPS atom types 1, 2, ..., to read the dump with).
    :raises ValueError: for settings :func:`check_md_settings` refuses or a model that is not compiled.
    """
    settings = MDSettings(
        temperature=temperature.value,
        num_steps=num_steps.value,
        stride=stride.value,
        timestep=timestep.value,
        thermostat_damping=thermostat_damping.value,
        pressure=_optional(pressure, None),
        barostat_damping=_optional(barostat_damping, MDSettings.barostat_damping),
        barostat_coupling=_optional(barostat_coupling, MDSettings.barostat_coupling),
        seed=seed.value,
        dump_forces=dump_forces.value,
    )
    message = check_md_settings(settings)
    if message:
        raise ValueError(message)
    atoms = structure.get_ase()
    symbols = lammps_type_symbols(atoms.get_chemical_symbols())
    pair = pair_section(pair_style.value, deployed_model_filename(deployed_model.filename), symbols)
    triclinic = settings.pressure is not None and settings.barostat_coupling == 'tri'
    return {
        'script': orm.SinglefileData(io.BytesIO(md_script(settings, pair).encode('utf-8')), filename='input.in'),
        'structure_file': orm.SinglefileData(
            io.BytesIO(structure_data_file(atoms, symbols, triclinic).encode('utf-8')), filename=STRUCTURE_FILE
        ),
        'type_symbols': orm.List(symbols),
    }
