"""The generator calcfunctions: each generated structure is a node linked to its seed and settings."""

from aiida import orm
from ase.build import bulk

from aiida_mlipgen.calculations.structure_generators import (
    generate_alloys,
    generate_melt_quench,
    generate_phonon_displacements,
    generate_point_defects,
    generate_surfaces,
)


def test_each_generator_is_a_calcfunction_with_provenance(aiida_profile):
    silicon = orm.StructureData(ase=bulk('Si', 'diamond', a=5.43))
    cases = [
        (generate_point_defects, {'min_atoms': 8}, ['Si7']),
        (generate_surfaces, {'miller_indices': [[1, 0, 0]], 'vacuum_A': 6.0}, ['Si8']),
        (generate_alloys, {'compositions': [{'Si': 0.5, 'Ge': 0.5}], 'min_atoms': 8}, ['Ge4Si4']),
        (generate_phonon_displacements, {'amplitudes_A': [0.02], 'min_atoms': 16}, ['Si16']),
        (
            generate_melt_quench,
            {'melt_steps': 20, 'quench_steps': 8, 'liquid_frames': 1, 'quenched_frames': 1},
            ['Si2', 'Si2'],
        ),
    ]
    for function, settings, formulas in cases:
        outputs, node = function.run_get_node(settings=orm.Dict(settings), si2=silicon)
        assert node.is_finished_ok, node.exit_message
        assert sorted(outputs) == [f'si2_{index:03d}' for index in range(len(formulas))]
        assert [outputs[key].get_formula() for key in sorted(outputs)] == formulas
        assert all(outputs[key].creator.pk == node.pk for key in outputs)
        assert node.inputs.si2.pk == silicon.pk
    assert outputs['si2_000'].label == 'si2 generator=melt_quench temperature_K=3000.0 phase=liquid'
