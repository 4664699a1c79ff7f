"""LAMMPS inputs for MD with a deployed NequIP/Allegro model: scripts and data files against regression files."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from aiida import orm
from ase.build import bulk
from ase.io.lammpsdata import read_lammps_data

from aiida_mlipgen.calculations.lammps_nequip_inputs import (
    MDSettings,
    check_deployed_model,
    check_md_settings,
    deployed_model_filename,
    lammps_nequip_inputs,
    lammps_type_symbols,
    md_script,
    pair_section,
    structure_data_file,
)


def test_nvt_script_for_pair_nequip(file_regression):
    settings = MDSettings(temperature=600.0, num_steps=1000, stride=10, seed=42)
    script = md_script(settings, pair_section('nequip', 'model.nequip.pt2', ['Si']))
    file_regression.check(script, extension='.in')
    assert 'newton          off' in script  # pair_nequip refuses newton pair on


def test_npt_script_for_pair_allegro_with_forces(file_regression):
    settings = MDSettings(
        temperature=1200.0,
        num_steps=5000,
        stride=50,
        timestep=0.002,
        thermostat_damping=0.2,
        pressure=2.5,
        barostat_damping=2.0,
        barostat_coupling='tri',
        seed=7,
        dump_forces=True,
    )
    script = md_script(settings, pair_section('allegro', 'model.nequip.pth', ['Ge', 'Si']))
    file_regression.check(script, extension='.in')
    assert 'iso' not in script and 'tri 25000.0 25000.0 2.0' in script  # 2.5 GPa = 25000 bar
    assert 'newton          on' in script  # pair_allegro refuses newton pair off


def test_structure_data_file_keeps_the_structure(file_regression):
    atoms = bulk('Si', 'diamond', a=5.43, cubic=True)
    atoms.symbols[[1, 4]] = 'Ge'
    symbols = lammps_type_symbols(atoms.get_chemical_symbols())
    assert symbols == ['Ge', 'Si']
    text = structure_data_file(atoms, symbols)
    file_regression.check(text, extension='.data')
    back = read_lammps_data(io.StringIO(text), atom_style='atomic', units='metal', Z_of_type={1: 32, 2: 14})
    assert back.get_chemical_symbols() == atoms.get_chemical_symbols()
    np.testing.assert_allclose(back.positions, atoms.positions, atol=1e-12)
    np.testing.assert_allclose(back.cell.array, atoms.cell.array, atol=1e-12)


def test_triclinic_cell_is_rotated_not_changed():
    atoms = bulk('Si', 'diamond', a=5.43)  # rhombohedral primitive cell
    back = read_lammps_data(io.StringIO(structure_data_file(atoms, ['Si'])), atom_style='atomic', units='metal')
    assert back.cell.volume == pytest.approx(atoms.cell.volume, rel=1e-12)
    np.testing.assert_allclose(back.cell.cellpar(), atoms.cell.cellpar(), atol=1e-10)
    assert np.allclose(np.triu(back.cell.array, 1), 0.0)  # LAMMPS's lower-triangular form
    # an orthogonal cell gets tilt factors only when asked (fix npt tri)
    cubic = bulk('Si', 'diamond', a=5.43, cubic=True)
    assert 'xy xz yz' not in structure_data_file(cubic, ['Si'])
    assert 'xy xz yz' in structure_data_file(cubic, ['Si'], triclinic=True)


@pytest.mark.parametrize(
    ('changes', 'message'),
    [
        ({'temperature': -300.0}, '`temperature` must be a positive number (K), got -300.0'),
        ({'temperature': math.nan}, '`temperature` must be a positive number'),
        ({'timestep': 0.0}, '`timestep` must be a positive number (ps)'),
        ({'num_steps': 0}, '`num_steps` must be at least 1'),
        ({'stride': -10}, '`stride` must be at least 1, got -10'),
        ({'stride': 2000}, '`stride` (2000) is longer than the run (1000 steps)'),
        ({'seed': 0}, '`seed` must be a positive integer'),
        ({'thermostat_damping': 0.0005}, '`thermostat_damping` (0.0005 ps) is shorter than the timestep'),
        ({'pressure': math.inf}, '`pressure` must be a finite number (GPa)'),
        ({'pressure': 1.0, 'barostat_damping': 0.0001}, '`barostat_damping` (0.0001 ps) is shorter'),
        ({'pressure': 1.0, 'barostat_coupling': 'xyz'}, '`barostat_coupling` must be one of iso, aniso, tri'),
    ],
)
def test_bad_md_settings(changes, message):
    settings = {'temperature': 300.0, 'num_steps': 1000, 'stride': 10, **changes}
    assert message in check_md_settings(MDSettings(**settings))


def test_good_md_settings():
    assert check_md_settings(MDSettings(temperature=300.0, num_steps=10, stride=10)) is None
    # a negative pressure (tension) is a valid NPT target
    assert check_md_settings(MDSettings(temperature=300.0, num_steps=10, stride=1, pressure=-2.0)) is None


def test_model_files_and_pair_styles():
    assert deployed_model_filename('committee_0.nequip.pt2') == 'model.nequip.pt2'
    assert deployed_model_filename('old.nequip.pth') == 'model.nequip.pth'
    assert 'not a `nequip-compile` output' in check_deployed_model('model.nequip.zip')
    with pytest.raises(ValueError, match='must be compiled on the machine that runs MD'):
        deployed_model_filename('model.nequip.zip')
    with pytest.raises(ValueError, match='pair style must be one of nequip, allegro'):
        pair_section('mace', 'model.nequip.pt2', ['Si'])
    assert pair_section('nequip', 'model.nequip.pt2', ['Ge', 'Si']).commands[1] == (
        'pair_coeff      * * model.nequip.pt2 Ge Si'
    )


def test_calcfunction_writes_the_same_files(aiida_profile, tmp_path):
    atoms = bulk('Si', 'diamond', a=5.43, cubic=True) * (2, 2, 2)
    model_file = tmp_path / 'committee.nequip.pt2'
    model_file.write_bytes(b'compiled model')
    results = lammps_nequip_inputs(
        structure=orm.StructureData(ase=atoms),
        deployed_model=orm.SinglefileData(model_file),
        pair_style=orm.Str('nequip'),
        temperature=orm.Float(600.0),
        num_steps=orm.Int(1000),
        stride=orm.Int(10),
        timestep=orm.Float(0.001),
        thermostat_damping=orm.Float(0.1),
        seed=orm.Int(42),
        dump_forces=orm.Bool(False),
    )
    settings = MDSettings(temperature=600.0, num_steps=1000, stride=10, seed=42)
    expected = md_script(settings, pair_section('nequip', 'model.nequip.pt2', ['Si']))
    assert results['script'].get_content() == expected
    assert results['structure_file'].get_content() == structure_data_file(atoms, ['Si'])
    assert results['type_symbols'].get_list() == ['Si']
    with pytest.raises(ValueError, match='`stride` must be at least 1'):
        lammps_nequip_inputs(
            structure=orm.StructureData(ase=atoms),
            deployed_model=orm.SinglefileData(model_file),
            pair_style=orm.Str('nequip'),
            temperature=orm.Float(600.0),
            num_steps=orm.Int(1000),
            stride=orm.Int(0),
            timestep=orm.Float(0.001),
            thermostat_damping=orm.Float(0.1),
            seed=orm.Int(42),
            dump_forces=orm.Bool(False),
        )
