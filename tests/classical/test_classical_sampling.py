"""ClassicalSamplingWorkChain runs the real LAMMPS on silicon: frames, physics, provenance, failures."""

from __future__ import annotations

import numpy as np
import pytest
from aiida.engine import run_get_node
from ase.geometry import find_mic

from aiida_mlipgen.workflows.classical_sampling import ClassicalSamplingWorkChain

#: Frames every 20 steps of 400; frames at or before step 100 are left out: 15 per run.
SETTINGS = {'num_steps': 400, 'stride': 20, 'equilibration_steps': 100}


def displacements(frame, start) -> np.ndarray:
    """Per-atom distance (A) of ``frame`` from the starting structure, minimum image."""
    vectors, _ = find_mic(frame.positions - start.positions, start.cell, pbc=True)
    return np.linalg.norm(vectors, axis=1)


def test_hotter_runs_move_atoms_further(lammps_code, silicon_sw, si64, si16_primitive):
    structures = {'si64': si64, 'si16': si16_primitive}
    overrides = {'temperatures': [300.0, 1200.0], **SETTINGS}
    builder = ClassicalSamplingWorkChain.get_builder_from_protocol(
        lammps_code, structures, silicon_sw, protocol='fast', overrides=overrides
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    assert 'failures' not in results

    dataset = results['dataset']
    frames = dataset.get_atoms()
    assert dataset.num_frames == 2 * 2 * 15
    assert not dataset.base.attributes.get('has_energy')  # unlabelled: the classical energies are not labels
    # Condition labels as every stage writes them (science.contract.condition_label).
    assert {atoms.info['condition'] for atoms in frames} == {'si64_300K', 'si64_1200K', 'si16_300K', 'si16_1200K'}

    starts = {key: structure.get_ase() for key, structure in structures.items()}
    msd = {}
    for condition in ('si64_300K', 'si64_1200K', 'si16_300K', 'si16_1200K'):
        run = [atoms for atoms in frames if atoms.info['condition'] == condition]
        assert [atoms.info['step'] for atoms in run] == list(range(120, 401, 20))
        assert run[0].info['time'] == pytest.approx(0.12)  # ps, at the protocol's 1 fs timestep
        start = starts[run[0].info['source_structure']]
        assert run[0].info['source_structure_uuid'] == structures[run[0].info['source_structure']].uuid
        for atoms in run:
            # Frames come back in the orientation of the input cell (aiida-lammps rotates the rhombohedral one).
            assert np.allclose(atoms.cell.array, start.cell.array)
            assert atoms.get_chemical_symbols() == start.get_chemical_symbols()
            assert displacements(atoms, start).max() < 1.0  # a crystal vibrating, below melting
        msd[condition] = np.mean([np.mean(displacements(atoms, start) ** 2) for atoms in run])
        kinetic = np.mean([atoms.info['kinetic_temperature'] for atoms in run])
        target = run[0].info['temperature']
        assert 0.5 * target < kinetic < 1.5 * target, (condition, kinetic)

    # Harmonic crystal: mean squared displacement grows linearly with T (4x from 300 to 1200 K).
    for key in ('si64', 'si16'):
        ratio = msd[f'{key}_1200K'] / msd[f'{key}_300K']
        assert 2.0 < ratio < 8.0, (key, msd)
    assert 0.002 < msd['si64_300K'] < 0.05  # A^2

    # Provenance: the dataset is made by `lammps_frames` from the LAMMPS trajectories.
    creator = dataset.creator
    assert creator.process_label == 'lammps_frames'
    trajectories = [
        link.node for link in creator.base.links.get_incoming().all() if link.link_label.startswith('trajectory_')
    ]
    assert len(trajectories) == 4
    assert {trajectory.creator.process_type for trajectory in trajectories} == {'aiida.calculations:lammps.base'}


def test_a_run_that_blows_up_is_recorded_and_the_rest_kept(lammps_code, silicon_sw, si64):
    # At 1e9 K the atoms leave the box in the first steps: LAMMPS stops with "Lost atoms".
    builder = ClassicalSamplingWorkChain.get_builder_from_protocol(
        lammps_code, {'si64': si64}, silicon_sw, protocol='fast', overrides={'temperatures': [300.0, 1e9], **SETTINGS}
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok
    failures = results['failures'].get_dict()
    assert list(failures) == ['si64_T1e09']
    assert 'Lost atoms' in failures['si64_T1e09']['reason']
    assert {atoms.info['condition'] for atoms in results['dataset'].get_atoms()} == {'si64_300K'}
    assert results['dataset'].num_frames == 15


def test_all_runs_failing_is_an_error(lammps_code, silicon_sw, si64):
    builder = ClassicalSamplingWorkChain.get_builder_from_protocol(
        lammps_code, {'si64': si64}, silicon_sw, protocol='fast', overrides={'temperatures': [1e9, 2e9], **SETTINGS}
    )
    results, node = run_get_node(builder)
    assert node.exit_status == ClassicalSamplingWorkChain.exit_codes.ERROR_ALL_MD_FAILED.status
    assert 'Lost atoms' in node.exit_message
    assert 'dataset' not in results
