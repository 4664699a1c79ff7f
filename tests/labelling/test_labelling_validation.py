"""Bad labelling input is refused before any job is submitted, with a message that says what to fix."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase import Atoms
from ase.build import bulk

from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.workflows.labelling import LabellingWorkChain


def _count_processes() -> int:
    return orm.QueryBuilder().append(orm.ProcessNode).count()


@pytest.fixture
def builder(pw_code, pseudo_family):
    structures = {'si': orm.StructureData(ase=bulk('Si', 'diamond', a=5.43))}
    return LabellingWorkChain.get_builder_from_protocol(pw_code, structures, protocol='fast')


def assert_refused(builder, match: str):
    before = _count_processes()
    with pytest.raises(ValueError, match=match):
        run_get_node(builder)
    assert _count_processes() == before  # nothing ran, not even the work chain


def test_builder_uses_one_set_of_cutoffs_for_all_elements(pw_code, pseudo_family):
    structures = [
        orm.StructureData(ase=bulk('Si', 'diamond', a=5.43)),
        orm.StructureData(ase=bulk('Ge', 'diamond', a=5.66)),
    ]
    builder = LabellingWorkChain.get_builder_from_protocol(pw_code, structures, protocol='fast')
    system = builder.pw.pw.parameters['SYSTEM']
    expected = pseudo_family.get_recommended_cutoffs(elements=('Ge', 'Si'), stringency='low', unit='Ry')
    assert (system['ecutwfc'], system['ecutrho']) == expected
    assert set(builder.pseudos) == {'Si', 'Ge'}
    assert builder.pw.pw.parameters['CONTROL']['tprnfor'] and builder.pw.pw.parameters['CONTROL']['tstress']


def test_builder_refuses_an_element_the_family_lacks(pw_code, pseudo_family):
    with pytest.raises(ValueError, match='no pseudopotential for element.*Au'):
        LabellingWorkChain.get_builder_from_protocol(
            pw_code, [orm.StructureData(ase=bulk('Au', 'fcc', a=4.08))], protocol='fast'
        )


def test_refuses_an_element_without_pseudopotential(builder):
    builder.structures = {'carbon': orm.StructureData(ase=bulk('C', 'diamond', a=3.57))}
    assert_refused(builder, 'no pseudopotential for element.*C')


def test_refuses_an_empty_structure_set(builder):
    builder.structures = {}
    assert_refused(builder, 'either as `structures` or as a `dataset`')


def test_refuses_structures_and_dataset_together(builder):
    builder.dataset = DatasetData([bulk('Si', 'diamond', a=5.43)])
    assert_refused(builder, 'and not both')


@pytest.mark.parametrize(
    ('parameters', 'match'),
    [
        ({'CONTROL': {'calculation': 'relax'}}, 'calculation = scf'),
        ({'CONTROL': {'tstress': False}}, 'tstress = True'),
        ({'CONTROL': {'tprnfor': False}}, 'tprnfor = True'),
        ({'ELECTRONS': {'scf_must_converge': False}}, 'unconverged SCF'),
    ],
)
def test_refuses_parameters_that_cannot_label(builder, parameters, match):
    from aiida_quantumespresso.workflows.protocols.utils import recursive_merge

    builder.pw.pw.parameters = orm.Dict(recursive_merge(builder.pw.pw.parameters.get_dict(), parameters))
    assert_refused(builder, match)


def test_refuses_an_explicit_mesh_for_different_cells(builder):
    builder.structures = {
        'small': orm.StructureData(ase=bulk('Si', 'diamond', a=5.43)),
        'large': orm.StructureData(ase=bulk('Si', 'diamond', a=5.43).repeat((2, 1, 1))),
    }
    mesh = orm.KpointsData()
    mesh.set_kpoints_mesh([2, 2, 2])
    builder.pw.kpoints = mesh
    del builder.pw['kpoints_distance']
    assert_refused(builder, 'different k-point densities')


def test_refuses_settings_that_differ_from_the_reference_dataset(builder):
    from aiida_mlipgen.workflows.labelling_inputs import settings_of_inputs

    labelled = bulk('Si', 'diamond', a=5.43)
    reference = DatasetData([labelled])
    settings = settings_of_inputs(builder._inputs(prune=True))
    reference.set_labelling_settings(settings)
    reference.store()
    builder.reference_dataset = reference
    # Same settings: accepted by the validator (checked without running).
    assert LabellingWorkChain.spec().inputs.validate(builder._inputs(prune=True)) is None

    system = builder.pw.pw.parameters.get_dict()
    system['SYSTEM']['ecutwfc'] += 5
    builder.pw.pw.parameters = orm.Dict(system)
    assert_refused(builder, 'differ from those of `reference_dataset`.*parameters')


@pytest.mark.parametrize('port', ['max_force', 'max_net_force_per_atom', 'min_distance_ratio'])
def test_refuses_non_positive_thresholds(builder, port):
    with pytest.raises(ValueError, match='must be positive'):
        builder[port] = orm.Float(0.0)  # the builder checks the port as soon as it is set


def test_dataset_with_unknown_element_is_refused(builder):
    del builder['structures']
    builder.dataset = DatasetData([Atoms('SiC', positions=[[0, 0, 0], [1.9, 0, 0]], cell=[5, 5, 5], pbc=True)])
    assert_refused(builder, 'no pseudopotential for element.*C')
