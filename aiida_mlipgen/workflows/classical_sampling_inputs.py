"""Input checks, LAMMPS parameters and the potential helper of the classical sampling stage.

Units are LAMMPS ``metal`` units throughout: temperatures in K, times in ps, lengths in A, energies in eV.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from aiida import orm
from aiida_lammps.data.potential import LammpsPotentialData

#: LAMMPS unit style the work chain writes its parameters in.
UNITS = 'metal'
#: Class attributes that ``LammpsPotentialData.get_or_create`` overwrites (see :func:`lammps_potential`).
_POTENTIAL_CLASS_ATTRIBUTES = ('pair_style', 'species', 'atom_style', 'units', 'extra_tags')
_ABSENT = object()
_ORIGINAL_CLASS_ATTRIBUTES = {
    name: LammpsPotentialData.__dict__.get(name, _ABSENT) for name in _POTENTIAL_CLASS_ATTRIBUTES
}


def lammps_potential(
    filepath: str | Path, pair_style: str, species: Sequence[str], units: str = UNITS
) -> LammpsPotentialData:
    """A ``LammpsPotentialData`` for a potential file, reused when a file with the same MD5 is stored.

    aiida-lammps 1.0.2's ``get_or_create`` stores its arguments as *class* attributes, replacing the
    ``pair_style`` property of every instance: after creating a Tersoff potential, an SW node already in
    memory would then be run with ``pair_style tersoff``. The class attributes are put back here, to
    what they were when this module was imported.

    :param filepath: the potential file, e.g. ``/usr/share/lammps/potentials/Si.sw``.
    :param pair_style: LAMMPS pair style that reads the file (``sw``, ``tersoff``, ``eam/alloy`` ...).
    :param species: chemical symbols the file has parameters for.
    :param units: LAMMPS units of the file; the classical sampling needs ``metal``.
    """
    try:
        potential = LammpsPotentialData.get_or_create(
            Path(filepath), pair_style=pair_style, species=list(species), atom_style='atomic', units=units
        )
    finally:
        for name, value in _ORIGINAL_CLASS_ATTRIBUTES.items():
            if value is not _ABSENT:
                setattr(LammpsPotentialData, name, value)
            elif name in LammpsPotentialData.__dict__:
                delattr(LammpsPotentialData, name)
    return potential


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def format_temperature(temperature: float) -> str:
    """Temperature as used in run keys and condition labels: ``300``, ``300p5`` (K)."""
    return f'{temperature:g}'.replace('.', 'p').replace('+', '')


def run_key(structure_key: str, temperature: float) -> str:
    """Name of the MD run of one structure at one temperature: ``si64_T300``."""
    return f'{structure_key}_T{format_temperature(temperature)}'


def check_temperatures(temperatures: Sequence) -> str | None:
    """Temperatures must be a non-empty list of distinct positive numbers (K)."""
    if not temperatures:
        return 'the temperature grid is empty: give at least one temperature (K).'
    for temperature in temperatures:
        if not _is_number(temperature) or temperature <= 0:
            return f'temperatures must be positive finite numbers (K), got {temperature!r}.'
    if len({format_temperature(temperature) for temperature in temperatures}) != len(temperatures):
        return f'temperatures must be distinct, got {list(temperatures)}.'
    return None


def check_md_settings(
    timestep: float, num_steps: int, stride: int, equilibration_steps: int, thermostat_damping: float
) -> str | None:
    """Timestep and damping (ps) positive; stride within the run; at least one frame after equilibration."""
    for name, value in (('timestep', timestep), ('thermostat_damping', thermostat_damping)):
        if not _is_number(value) or value <= 0:
            return f'`{name}` must be a positive number of ps, got {value!r}.'
    if num_steps < 1:
        return f'`num_steps` must be at least 1, got {num_steps}.'
    if stride < 1:
        return f'`stride` must be at least 1, got {stride}.'
    if equilibration_steps < 0:
        return f'`equilibration_steps` must be non-negative, got {equilibration_steps}.'
    if num_frames_per_run(num_steps, stride, equilibration_steps) < 1:
        return (
            f'no frame would be kept: frames are written every {stride} steps and only those after step '
            f'{equilibration_steps} are kept, in a run of {num_steps} steps.'
        )
    if thermostat_damping < timestep:
        return f'`thermostat_damping` ({thermostat_damping} ps) is shorter than the timestep ({timestep} ps).'
    return None


def num_frames_per_run(num_steps: int, stride: int, equilibration_steps: int) -> int:
    """Frames kept from one run: those at multiples of ``stride`` after ``equilibration_steps``, up to ``num_steps``."""
    return num_steps // stride - min(equilibration_steps, num_steps) // stride


def check_structures(structures: Mapping[str, orm.StructureData], potential: LammpsPotentialData) -> str | None:
    """Structures must be periodic, with elements the potential covers and kinds in the order LAMMPS types them."""
    if not structures:
        return 'there are no structures to sample from.'
    covered = set(potential.base.attributes.get('species', []))
    for key, structure in sorted(structures.items()):
        if not all(structure.pbc):
            return f'structure `{key}` is not periodic in all three directions: bulk sampling needs a 3D cell.'
        elements = {kind.symbol for kind in structure.kinds}
        missing = sorted(elements - covered)
        if missing:
            return (
                f'structure `{key}` has element(s) {", ".join(missing)} that the potential '
                f'({potential.base.attributes.get("filename")}) does not cover: it has {", ".join(sorted(covered))}.'
            )
        # aiida-lammps numbers atom types by first appearance among the sites but names the elements of the
        # types in the order of `structure.kinds`: the two orders must agree.
        first_appearance = list(dict.fromkeys(structure.get_site_kindnames()))
        if first_appearance != [kind.name for kind in structure.kinds]:
            return (
                f'structure `{key}`: the kinds {[kind.name for kind in structure.kinds]} are not in the order they '
                f'first appear among the sites ({first_appearance}); aiida-lammps would give atoms the wrong element. '
                'Rebuild it, e.g. `StructureData(ase=structure.get_ase())`.'
            )
    return None


def check_potential(potential: LammpsPotentialData) -> str | None:
    """The potential must be in metal units, the units the work chain writes its parameters in."""
    units = potential.base.attributes.get('default_units', None)
    if units != UNITS:
        return f'the potential is in `{units}` units; the classical sampling writes `{UNITS}` units (eV, A, ps, K).'
    return None


def md_parameters(
    temperature: float, timestep: float, num_steps: int, stride: int, thermostat_damping: float, seed: int
) -> dict:
    """aiida-lammps ``parameters`` of one Nose-Hoover NVT run that writes positions and thermo every ``stride`` steps.

    Velocities are drawn from a Gaussian at ``temperature`` (K) with zero total momentum (``seed`` > 0).
    """
    return {
        'control': {'units': UNITS, 'timestep': timestep},
        'structure': {'atom_style': 'atomic'},
        'potential': {},
        'thermo': {
            'printing_rate': stride,
            'thermo_printing': {'step': True, 'temp': True, 'pe': True, 'ke': True, 'etotal': True, 'press': True},
        },
        'dump': {'dump_rate': stride},
        'md': {
            'integration': {
                'style': 'nvt',
                'constraints': {'temp': [temperature, temperature, thermostat_damping]},
            },
            'max_number_steps': num_steps,
            'velocity': [{'create': {'temp': temperature, 'seed': seed}, 'dist': 'gaussian', 'mom': 'yes'}],
        },
    }
