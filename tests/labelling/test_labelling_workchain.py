"""LabellingWorkChain with the real pw.x on tiny silicon cells."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import run_get_node
from ase.build import bulk

from aiida_mlipgen.workflows.labelling import LabellingWorkChain

#: Cheap but real settings: 2-atom cells, low cutoffs, coarse k-points.
CHEAP = {
    'pw': {
        'kpoints_distance': 0.6,
        'pw': {'parameters': {'SYSTEM': {'ecutwfc': 16.0, 'ecutrho': 64.0}}},
    },
}


def rattled_silicon(seed: int, amplitude: float = 0.05) -> orm.StructureData:
    atoms = bulk('Si', 'diamond', a=5.43)
    atoms.rattle(amplitude, seed=seed)
    return orm.StructureData(ase=atoms)


@pytest.fixture
def labelling_builder(pw_code, pseudo_family):
    def factory(structures, overrides=None):
        from aiida_quantumespresso.workflows.protocols.utils import recursive_merge

        return LabellingWorkChain.get_builder_from_protocol(
            pw_code, structures, protocol='fast', overrides=recursive_merge(CHEAP, overrides or {})
        )

    return factory


def test_labels_frames_with_forces_and_stress(labelling_builder):
    structures = {'a': rattled_silicon(1), 'b': rattled_silicon(2)}
    results, node = run_get_node(labelling_builder(structures))
    assert node.is_finished_ok, node.exit_message
    dataset = results['dataset']
    assert dataset.num_frames == 2
    assert results['failures'].get_dict() == {}
    frames = dataset.get_atoms()
    for atoms in frames:
        forces = atoms.get_forces()
        assert forces.shape == (2, 3)
        assert np.abs(forces).max() > 1e-3  # a rattled cell feels forces
        assert atoms.get_stress().shape == (6,)
    # Every frame traces back to the PwCalculation that labelled it.
    for atoms in frames:
        calculation = orm.load_node(atoms.info['pw_calculation_uuid'])
        assert calculation.process_type.endswith('quantumespresso.pw')
        assert calculation.is_finished_ok
        assert dataset.creator.inputs[f'trajectory_{atoms.info["frame_key"]}'].creator.uuid == calculation.uuid


def test_stress_sign_and_units_match_the_energy_derivative(labelling_builder):
    """ASE convention: for a hydrostatic strain dE/dV = mean diagonal stress (eV/A^3). A sign or unit slip
    between QE's GPa (positive = compressive) and ASE's eV/A^3 (positive = tensile) fails this test."""
    scales = (0.96, 0.98)  # compressed: a clear pressure of several GPa
    structures = {}
    for index, scale in enumerate(scales):
        atoms = bulk('Si', 'diamond', a=5.43 * scale)
        structures[f'v{index}'] = orm.StructureData(ase=atoms)
    # Fixed basis quality across the two volumes: a constant, not-too-low cutoff.
    overrides = {'pw': {'pw': {'parameters': {'SYSTEM': {'ecutwfc': 30.0, 'ecutrho': 120.0}}}}}
    results, node = run_get_node(labelling_builder(structures, overrides))
    assert node.is_finished_ok, node.exit_message
    frames = {atoms.info['frame_key']: atoms for atoms in results['dataset'].get_atoms()}
    small, large = frames['v0'], frames['v1']
    derivative = (large.get_potential_energy() - small.get_potential_energy()) / (
        large.get_volume() - small.get_volume()
    )
    mean_stress = np.mean([atoms.get_stress()[:3].mean() for atoms in (small, large)])
    assert mean_stress < 0  # compressed -> negative (compressive) stress in ASE's convention
    assert derivative == pytest.approx(mean_stress, rel=0.25)


def test_unconverged_scf_is_restarted_then_recorded_and_never_labelled(labelling_builder):
    """Two SCF steps cannot converge: PwBaseWorkChain restarts, gives up, and the frame stays out."""
    overrides = {
        'pw': {
            'max_iterations': 2,
            'pw': {'parameters': {'ELECTRONS': {'electron_maxstep': 2, 'conv_thr': 1e-12}}},
        },
    }
    results, node = run_get_node(labelling_builder({'a': rattled_silicon(3)}, overrides))
    assert node.exit_status == LabellingWorkChain.exit_codes.ERROR_ALL_FRAMES_FAILED.status
    assert 'dataset' not in results
    record = results['failures']['a']
    assert record['stage'] == 'dft'
    pw_base = orm.load_node(record['process_uuid'])
    calculations = [child for child in pw_base.called if child.process_type.endswith('quantumespresso.pw')]
    assert len(calculations) == 2  # restarted once by the handler, then given up
    assert all(calc.exit_status == 410 for calc in calculations)  # ERROR_ELECTRONIC_CONVERGENCE_NOT_REACHED


def test_quality_gate_quarantines_a_frame_and_keeps_the_rest(labelling_builder):
    structures = {'perfect': orm.StructureData(ase=bulk('Si', 'diamond', a=5.43)), 'rattled': rattled_silicon(4, 0.1)}
    results, node = run_get_node(labelling_builder(structures, {'max_force': 0.05}))
    assert node.is_finished_ok, node.exit_message
    assert [atoms.info['frame_key'] for atoms in results['dataset'].get_atoms()] == ['perfect']
    record = results['failures']['rattled']
    assert record['stage'] == 'quality'
    assert '> 0.05 eV/A' in record['reason']
    assert orm.load_node(record['process_uuid']).is_finished_ok  # the DFT itself was fine


def test_close_contacts_are_screened_out_before_any_run(labelling_builder):
    overlapping = bulk('Si', 'diamond', a=5.43)
    overlapping.positions[1] = overlapping.positions[0] + [0.4, 0.0, 0.0]
    structures = {'good': rattled_silicon(5), 'overlap': orm.StructureData(ase=overlapping)}
    results, node = run_get_node(labelling_builder(structures))
    assert node.is_finished_ok
    assert results['dataset'].num_frames == 1
    assert results['failures']['overlap']['stage'] == 'screening'
    assert 'too close' in results['failures']['overlap']['reason']
    called = node.base.links.get_outgoing(link_type=LinkType.CALL_WORK).all()
    assert [triple.link_label for triple in called] == ['label_good']


def test_only_overlapping_frames_fail_with_their_own_exit_code_and_run_nothing(labelling_builder):
    overlapping = bulk('Si', 'diamond', a=5.43)
    overlapping.positions[1] = overlapping.positions[0] + [0.4, 0.0, 0.0]
    results, node = run_get_node(labelling_builder({'overlap': orm.StructureData(ase=overlapping)}))
    assert node.exit_status == LabellingWorkChain.exit_codes.ERROR_NO_FRAME_PASSED_SCREENING.status
    assert 'too close' in node.exit_message
    assert not [call for call in node.called if call.process_label == 'PwBaseWorkChain']


def test_labels_a_dataset_and_respects_the_concurrency_cap(labelling_builder):
    from aiida_mlipgen.data.dataset import DatasetData

    frames = [rattled_silicon(seed).get_ase() for seed in (6, 7)]
    for index, atoms in enumerate(frames):  # the users' own keys: kept for per-type errors and filtering
        atoms.info.update(name=f'rattled {index}', config_type='crystal', condition=f'si2_{300 * (index + 1)}K')
    results, node = run_get_node(labelling_builder(DatasetData(frames), {'max_concurrent': 1}))
    assert node.is_finished_ok, node.exit_message
    labelled = results['dataset'].get_atoms()
    assert [atoms.info['frame_key'] for atoms in labelled] == ['frame_00000', 'frame_00001']
    for original, atoms in zip(frames, labelled, strict=True):
        assert {key: atoms.info[key] for key in original.info} == original.info
    np.testing.assert_allclose(labelled[1].positions, frames[1].positions, atol=1e-9)  # as pw.x read them
    first, second = sorted(
        (call for call in node.called if call.process_label == 'PwBaseWorkChain'), key=lambda n: n.ctime
    )
    assert second.ctime > first.outputs.retrieved.ctime  # the second started only after the first had finished
