"""Bad classical-sampling input is refused before any job, and the protocol builder gives the documented inputs."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase import Atoms
from ase.build import bulk

from aiida_mlipgen.workflows.classical_sampling import ClassicalSamplingWorkChain
from aiida_mlipgen.workflows.classical_sampling_inputs import lammps_potential, md_parameters, num_frames_per_run


def _count_processes() -> int:
    return orm.QueryBuilder().append(orm.ProcessNode).count()


@pytest.fixture
def builder(lammps_code, silicon_sw, si64):
    return ClassicalSamplingWorkChain.get_builder_from_protocol(lammps_code, {'si64': si64}, silicon_sw, 'fast')


def assert_refused(builder, match: str):
    before = _count_processes()
    with pytest.raises(ValueError, match=match):
        run_get_node(builder)
    assert _count_processes() == before  # nothing ran, not even the work chain


def test_fast_protocol_inputs(builder, lammps_code, silicon_sw):
    assert builder.temperatures.get_list() == [300.0, 900.0]
    assert (builder.num_steps.value, builder.stride.value, builder.equilibration_steps.value) == (500, 50, 100)
    assert (builder.timestep.value, builder.thermostat_damping.value, builder.seed.value) == (0.001, 0.1, 1)
    assert builder.md.lammps.code.uuid == lammps_code.uuid
    assert builder.potential.uuid == silicon_sw.uuid
    options = builder.md.lammps.metadata.options
    assert options.resources == {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
    assert options.max_wallclock_seconds == 1800
    assert num_frames_per_run(500, 50, 100) == 8


def test_protocols_sample_more_as_they_get_stricter(lammps_code, silicon_sw, si64):
    frames = {}
    for protocol in ('fast', 'balanced', 'stringent'):
        built = ClassicalSamplingWorkChain.get_builder_from_protocol(lammps_code, [si64], silicon_sw, protocol)
        assert list(built.structures) == ['structure_000']
        per_run = num_frames_per_run(built.num_steps.value, built.stride.value, built.equilibration_steps.value)
        frames[protocol] = per_run * len(built.temperatures.get_list())
    assert frames == {'fast': 16, 'balanced': 160, 'stringent': 450}


def test_options_and_overrides_reach_the_builder(lammps_code, silicon_sw, si64):
    built = ClassicalSamplingWorkChain.get_builder_from_protocol(
        lammps_code,
        {'si64': si64},
        silicon_sw,
        'fast',
        overrides={'temperatures': [500], 'stride': 25},
        options={'max_wallclock_seconds': 60, 'withmpi': True},
    )
    assert built.temperatures.get_list() == [500.0]
    assert built.stride.value == 25
    assert built.md.lammps.metadata.options.max_wallclock_seconds == 60
    assert built.md.lammps.metadata.options.withmpi is True
    assert built.md.lammps.metadata.options.resources['num_machines'] == 1


def test_md_parameters_are_nvt_at_the_target():
    parameters = md_parameters(600.0, 0.002, 1000, 10, 0.2, 7)
    assert parameters['md']['integration'] == {'style': 'nvt', 'constraints': {'temp': [600.0, 600.0, 0.2]}}
    assert parameters['md']['velocity'][0]['create'] == {'temp': 600.0, 'seed': 7}
    assert parameters['dump']['dump_rate'] == parameters['thermo']['printing_rate'] == 10
    assert parameters['control'] == {'units': 'metal', 'timestep': 0.002}


@pytest.mark.parametrize(
    ('temperatures', 'match'),
    [
        ([], 'temperature grid is empty'),
        ([300.0, -100.0], r'temperatures must be positive finite numbers \(K\), got -100.0'),
        ([0.0], 'temperatures must be positive'),
        ([300.0, 300.0], 'temperatures must be distinct'),
    ],
)
def test_bad_temperatures_are_refused(builder, temperatures, match):
    builder.temperatures = orm.List(temperatures)
    assert_refused(builder, match)


@pytest.mark.parametrize(
    ('port', 'node_type', 'value', 'match'),
    [
        ('timestep', orm.Float, -0.001, '`timestep` must be a positive number of ps'),
        ('timestep', orm.Float, 0.0, '`timestep` must be a positive number of ps'),
        ('thermostat_damping', orm.Float, -1.0, '`thermostat_damping` must be a positive'),
        ('thermostat_damping', orm.Float, 0.0001, 'shorter than the timestep'),
        ('stride', orm.Int, 0, '`stride` must be at least 1'),
        ('num_steps', orm.Int, 0, '`num_steps` must be at least 1'),
        ('stride', orm.Int, 600, 'no frame would be kept'),
        ('equilibration_steps', orm.Int, 500, 'no frame would be kept'),
        ('equilibration_steps', orm.Int, -5, '`equilibration_steps` must be non-negative'),
    ],
)
def test_bad_md_settings_are_refused(builder, port, node_type, value, match):
    builder[port] = node_type(value)
    assert_refused(builder, match)


def test_a_seed_below_one_is_refused_by_the_port(builder):
    with pytest.raises(ValueError, match='must be a positive integer, got 0'):
        builder.seed = orm.Int(0)


def test_an_element_the_potential_lacks_is_refused(builder):
    builder.structures = {'ge': orm.StructureData(ase=bulk('Ge', 'diamond', a=5.66))}
    assert_refused(builder, r'structure `ge` has element\(s\) Ge that the potential \(Si.sw\) does not cover')


def test_a_non_periodic_structure_is_refused(builder):
    molecule = Atoms('Si2', positions=[[0, 0, 0], [0, 0, 2.3]], cell=[10, 10, 10], pbc=False)
    builder.structures = {'dimer': orm.StructureData(ase=molecule)}
    assert_refused(builder, 'not periodic in all three directions')


def test_an_empty_structure_set_is_refused(builder):
    builder.structures = {}
    assert_refused(builder, 'no structures to sample from')


def test_kinds_out_of_site_order_are_refused(builder, potentials_directory):
    # Kinds listed Ge, Si but the first site is Si: aiida-lammps would swap the elements of the two types.
    structure = orm.StructureData(cell=[[5.4, 0, 0], [0, 5.4, 0], [0, 0, 5.4]])
    structure.append_kind(orm.Kind(symbols='Ge', name='Ge'))
    structure.append_kind(orm.Kind(symbols='Si', name='Si'))
    structure.append_site(orm.Site(kind_name='Si', position=[0, 0, 0]))
    structure.append_site(orm.Site(kind_name='Ge', position=[1.35, 1.35, 1.35]))
    builder.potential = lammps_potential(potentials_directory / 'SiCGe.tersoff', 'tersoff', ['Si', 'C', 'Ge'])
    builder.structures = {'sige': structure}
    assert_refused(builder, 'not in the order they first appear among the sites')


def test_a_potential_in_other_units_is_refused(builder, potentials_directory, tmp_path):
    # A file of its own, so that no metal-units node with the same MD5 is found instead.
    path = tmp_path / 'Si_real.tersoff'
    path.write_text('# said to be in real units\n' + (potentials_directory / 'Si.tersoff').read_text())
    builder.potential = lammps_potential(path, 'tersoff', ['Si'], units='real')
    assert_refused(builder, 'the potential is in `real` units')


def test_the_builder_refuses_bad_overrides(lammps_code, silicon_sw, si64):
    with pytest.raises(ValueError, match='temperatures must be positive'):
        ClassicalSamplingWorkChain.get_builder_from_protocol(
            lammps_code, [si64], silicon_sw, 'fast', overrides={'temperatures': [-300]}
        )


def test_potentials_keep_their_own_pair_style(aiida_profile, potentials_directory):
    """aiida-lammps' `get_or_create` overwrites class attributes; `lammps_potential` must not let that leak."""
    sw = lammps_potential(potentials_directory / 'Si.sw', 'sw', ['Si'])
    tersoff = lammps_potential(potentials_directory / 'Si.tersoff', 'tersoff', ['Si'])
    assert (sw.pair_style, tersoff.pair_style) == ('sw', 'tersoff')
    assert sw.species == ['Si'] and sw.default_units == 'metal'
    assert (
        lammps_potential(potentials_directory / 'Si.sw', 'sw', ['Si']).store().uuid == sw.store().uuid
    )  # reused by MD5


def test_the_validator_skips_ports_a_wrapper_excludes(builder):
    from aiida_mlipgen.workflows.classical_sampling import validate_inputs

    inputs = builder._inputs(prune=True)
    for port in ('potential', 'temperatures', 'timestep'):
        inputs.pop(port)
    assert validate_inputs(inputs, None) is None
    inputs['temperatures'] = orm.List([-1.0])
    assert 'temperatures must be positive' in validate_inputs(inputs, None)
