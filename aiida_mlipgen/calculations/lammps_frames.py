"""Turn the trajectories of classical LAMMPS MD runs (aiida-lammps outputs) into a ``DatasetData`` of frames."""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import calcfunction
from aiida_lammps.data.trajectory import LammpsTrajectory
from aiida_lammps.parsers.parse_raw import parse_step
from ase import Atoms

from aiida_mlipgen.data.dataset import DatasetData

#: Prefixes of the calcfunction's per-run and per-structure inputs.
TRAJECTORY_PREFIX = 'trajectory_'
THERMO_PREFIX = 'thermo_'
STRUCTURE_PREFIX = 'structure_'
#: How far from orthogonal the map from the LAMMPS cell back to the input cell may be (it is a rotation).
_ROTATION_TOLERANCE = 1e-6


def rotation_to_input_frame(lammps_cell: np.ndarray, input_cell: np.ndarray) -> np.ndarray:
    """Orthogonal matrix ``R`` with ``input_cell = lammps_cell @ R`` (rows are cell vectors).

    aiida-lammps rotates a cell into LAMMPS's lower-triangular form; ``positions @ R`` rotates the
    positions back. For a cell whose shape changed (NPT) there is no such rotation.

    :raises ValueError: when the two cells differ by more than a rotation (or reflection).
    """
    rotation = np.linalg.solve(np.asarray(lammps_cell, dtype=float), np.asarray(input_cell, dtype=float))
    if not np.allclose(rotation @ rotation.T, np.eye(3), atol=_ROTATION_TOLERANCE):
        raise ValueError('the cell of the trajectory is not a rotation of the input cell: did the cell change?')
    return rotation


def atoms_from_dump(step_text: str, input_cell: np.ndarray) -> tuple[int, Atoms]:
    """Time step and configuration of one step of a LAMMPS dump, rotated back into the input cell's orientation.

    :param step_text: one step of the dump that aiida-lammps writes (``id type element x y z``, sorted by id).
    :param input_cell: the cell of the structure the run started from (A, rows are vectors).
    """
    block = parse_step(step_text.splitlines())
    rotation = rotation_to_input_frame(block.cell, input_cell)
    positions = np.array([block.atom_fields[axis] for axis in ('x', 'y', 'z')], dtype=float).T
    atoms = Atoms(
        symbols=block.atom_fields['element'],
        positions=positions @ rotation,
        cell=np.asarray(input_cell, dtype=float),
        pbc=True,
    )
    atoms.wrap()
    return block.timestep, atoms


def thermo_temperatures(thermo: orm.ArrayData | None) -> dict[int, float]:
    """Instantaneous temperature (K) by time step, from aiida-lammps' ``time_dependent_computes``."""
    if thermo is None or not {'Step', 'Temp'} <= set(thermo.get_arraynames()):
        return {}
    steps, temperatures = thermo.get_array('Step'), thermo.get_array('Temp')
    return {int(step): float(value) for step, value in zip(steps, temperatures, strict=True)}


def frames_from_trajectory(
    trajectory: LammpsTrajectory,
    structure: orm.StructureData,
    condition: dict,
    equilibration_steps: int,
    thermo: orm.ArrayData | None = None,
) -> list[Atoms]:
    """The frames of one run written after ``equilibration_steps``, unlabelled, with where they come from.

    Each frame's info: ``temperature`` (target, K), ``kinetic_temperature`` (instantaneous, K, when LAMMPS
    printed it at that step), ``step``, ``time`` (ps), ``condition``, ``source_structure`` (its key) and
    ``source_structure_uuid``, ``lammps_calculation_uuid``.

    :param condition: ``{'structure': key, 'temperature': K, 'timestep': ps, 'condition': label}``.
    :raises ValueError: when the trajectory's elements differ from the structure's.
    """
    input_cell = np.asarray(structure.cell, dtype=float)
    expected_symbols = structure.get_ase().get_chemical_symbols()
    kinetic = thermo_temperatures(thermo)
    calculation = trajectory.creator
    frames = []
    for content in trajectory.iter_step_strings():
        step, atoms = atoms_from_dump(content.decode('utf-8'), input_cell)
        if step <= equilibration_steps:
            continue
        if atoms.get_chemical_symbols() != expected_symbols:
            raise ValueError(f'step {step} of trajectory {trajectory.uuid} holds other atoms than `{structure.uuid}`')
        atoms.info.update(
            {
                'temperature': float(condition['temperature']),
                'step': int(step),
                'time': step * float(condition['timestep']),
                'condition': condition['condition'],
                'source_structure': condition['structure'],
                'source_structure_uuid': structure.uuid,
            }
        )
        if step in kinetic:
            atoms.info['kinetic_temperature'] = kinetic[step]
        if calculation is not None:
            atoms.info['lammps_calculation_uuid'] = calculation.uuid
        frames.append(atoms)
    return frames


@calcfunction
def lammps_frames(conditions: orm.Dict, equilibration_steps: orm.Int, **nodes) -> dict:
    """Collect the MD frames of several runs into one unlabelled dataset, in run-key then step order.

    :param conditions: run key -> ``{'structure', 'temperature' (K), 'timestep' (ps), 'condition'}``.
    :param equilibration_steps: frames at or before this step are left out.
    :param nodes: ``trajectory_<run key>`` (LammpsTrajectory) and optionally ``thermo_<run key>`` (the run's
        ``time_dependent_computes``) for every run, ``structure_<structure key>`` for every structure, and
        optionally ``failures`` (Dict of the runs that failed), passed through.
    :return: ``dataset``: the frames (positions and cell, no labels); ``failures`` when given.
    :raises ValueError: when a run has no trajectory or structure, or no frame is left.
    """
    runs = conditions.get_dict()
    failures = nodes.pop('failures', None)
    frames = []
    for key in sorted(runs):
        condition = runs[key]
        trajectory = nodes.get(f'{TRAJECTORY_PREFIX}{key}')
        structure = nodes.get(f'{STRUCTURE_PREFIX}{condition["structure"]}')
        if trajectory is None or structure is None:
            needed = f'`{TRAJECTORY_PREFIX}{key}` and `{STRUCTURE_PREFIX}{condition["structure"]}`'
            raise ValueError(f'run `{key}` needs the inputs {needed}')
        frames.extend(
            frames_from_trajectory(
                trajectory, structure, condition, equilibration_steps.value, nodes.get(f'{THERMO_PREFIX}{key}')
            )
        )
    if not frames:
        raise ValueError(f'no frame was written after step {equilibration_steps.value} in any run')
    outputs = {'dataset': DatasetData(frames)}
    if failures is not None:
        outputs['failures'] = orm.Dict(failures.get_dict())
    return outputs
