"""`lammps_frames` and its plain functions, on hand-written LAMMPS dumps with known answers."""

from __future__ import annotations

import io

import numpy as np
import pytest
from aiida import orm
from aiida_lammps.data.trajectory import LammpsTrajectory
from ase import Atoms

from aiida_mlipgen.calculations.lammps_frames import (
    atoms_from_dump,
    frames_from_trajectory,
    lammps_frames,
    rotation_to_input_frame,
)

#: An orthorhombic LAMMPS box (A) and two Si atoms in it.
BOX = np.diag([4.0, 5.0, 6.0])
POSITIONS = np.array([[0.5, 0.5, 0.5], [2.0, 2.5, 3.0]])


def rotation_about_z(degrees: float) -> np.ndarray:
    angle = np.radians(degrees)
    return np.array([[np.cos(angle), np.sin(angle), 0.0], [-np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])


def dump_step(timestep: int, positions: np.ndarray = POSITIONS, symbols=('Si', 'Si')) -> str:
    """One step of a dump as aiida-lammps asks LAMMPS to write it (orthorhombic box, tilts zero)."""
    lines = ['ITEM: TIMESTEP', str(timestep), 'ITEM: NUMBER OF ATOMS', str(len(positions))]
    lines.append('ITEM: BOX BOUNDS xy xz yz pp pp pp')
    lines += [f'0.0 {length} 0.0' for length in np.diag(BOX)]
    lines.append('ITEM: ATOMS id type element x y z')
    for index, (symbol, (x, y, z)) in enumerate(zip(symbols, positions, strict=True)):
        lines.append(f'{index + 1} 1 {symbol} {x} {y} {z}')
    return '\n'.join(lines) + '\n'


def trajectory(steps, **kwargs) -> LammpsTrajectory:
    return LammpsTrajectory(io.StringIO(''.join(dump_step(step, **kwargs) for step in steps)))


def structure(rotation: np.ndarray | None = None) -> orm.StructureData:
    """The input structure: the dump's box and positions, turned by ``rotation`` (as aiida-lammps undoes it)."""
    rotation = np.eye(3) if rotation is None else rotation
    return orm.StructureData(ase=Atoms('Si2', positions=POSITIONS @ rotation, cell=BOX @ rotation, pbc=True))


def thermo(steps, temperatures) -> orm.ArrayData:
    node = orm.ArrayData()
    node.set_array('Step', np.array(steps, dtype=float))
    node.set_array('Temp', np.array(temperatures, dtype=float))
    return node


CONDITION = {'structure': 'si2', 'temperature': 300.0, 'timestep': 0.002, 'condition': 'si2_T300'}


def test_rotation_back_to_the_input_cell():
    rotation = rotation_about_z(30.0)
    recovered = rotation_to_input_frame(BOX, BOX @ rotation)
    assert np.allclose(recovered, rotation)
    with pytest.raises(ValueError, match='not a rotation of the input cell'):
        rotation_to_input_frame(BOX, BOX * 1.01)  # strained, as after NPT


def test_a_dump_step_comes_back_in_the_input_orientation():
    rotation = rotation_about_z(30.0)
    step, atoms = atoms_from_dump(dump_step(40), BOX @ rotation)
    assert step == 40
    assert np.allclose(atoms.cell.array, BOX @ rotation)
    assert np.allclose(atoms.positions, POSITIONS @ rotation)
    assert atoms.get_chemical_symbols() == ['Si', 'Si']


def test_frames_after_equilibration_with_their_conditions(aiida_profile):
    source = structure(rotation_about_z(45.0)).store()
    frames = frames_from_trajectory(
        trajectory([0, 10, 20, 30]), source, CONDITION, equilibration_steps=10, thermo=thermo([0, 10, 20], [1, 2, 3])
    )
    assert [atoms.info['step'] for atoms in frames] == [20, 30]
    assert [atoms.info['time'] for atoms in frames] == pytest.approx([0.04, 0.06])
    assert frames[0].info['kinetic_temperature'] == 3.0
    assert 'kinetic_temperature' not in frames[1].info  # LAMMPS printed no thermo line at step 30
    assert frames[0].info['source_structure_uuid'] == source.uuid
    assert (frames[0].info['temperature'], frames[0].info['condition']) == (300.0, 'si2_T300')
    assert np.allclose(frames[1].positions, source.get_ase().positions)


def test_other_atoms_in_the_trajectory_are_refused(aiida_profile):
    with pytest.raises(ValueError, match='holds other atoms than'):
        frames_from_trajectory(trajectory([10], symbols=('Si', 'Ge')), structure().store(), CONDITION, 0)


def test_the_calcfunction_collects_runs_in_key_order(aiida_profile):
    conditions = {
        'si2_T600': {**CONDITION, 'temperature': 600.0, 'condition': 'si2_T600'},
        'si2_T300': CONDITION,
    }
    dataset = lammps_frames(
        conditions=orm.Dict(conditions),
        equilibration_steps=orm.Int(0),
        trajectory_si2_T300=trajectory([0, 10]),
        trajectory_si2_T600=trajectory([0, 10, 20]),
        structure_si2=structure(),
        failures=orm.Dict({'si2_T900': {'reason': 'Lost atoms'}}),
    )
    frames = dataset['dataset'].get_atoms()
    assert [(atoms.info['condition'], atoms.info['step']) for atoms in frames] == [
        ('si2_T300', 10),
        ('si2_T600', 10),
        ('si2_T600', 20),
    ]
    assert dataset['failures'].get_dict() == {'si2_T900': {'reason': 'Lost atoms'}}


def test_the_calcfunction_refuses_missing_runs_and_empty_results(aiida_profile):
    with pytest.raises(ValueError, match='needs the inputs `trajectory_si2_T300` and `structure_si2`'):
        lammps_frames(conditions=orm.Dict({'si2_T300': CONDITION}), equilibration_steps=orm.Int(0))
    with pytest.raises(ValueError, match='no frame was written after step 50'):
        lammps_frames(
            conditions=orm.Dict({'si2_T300': CONDITION}),
            equilibration_steps=orm.Int(50),
            trajectory_si2_T300=trajectory([0, 10]),
            structure_si2=structure(),
        )
