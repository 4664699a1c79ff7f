"""LammpsNequipWorkChain: validation, the real Debian LAMMPS, and the dump evaluated in the MD's remote folder.

Debian's LAMMPS (29 Sep 2021) has no pair_nequip_allegro. One test lets it fail on `pair_style nequip` as
it would on any such cluster; the other swaps the pair section for Stillinger-Weber, the one piece that
cannot run here, so that everything else (script, data file, `lammps.raw`, dump, remote evaluation with
the real committee) runs for real.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase.build import bulk
from ase.io import read

import aiida_mlipgen.calculations.lammps_nequip_inputs as lammps_inputs
from aiida_mlipgen.engines.committee import Committee
from aiida_mlipgen.workflows.lammps_nequip import LammpsNequipWorkChain
from tests.evaluate.conftest import SW_POTENTIAL

#: 64 atoms, 200 steps of 1 fs at 900 K, positions every 20 steps: 11 frames (step 0 included).
RUN = {'temperature': 900.0, 'num_steps': 200, 'stride': 20, 'seed': 3}


@pytest.fixture
def builder(lammps_raw_code, evaluate_code, committee_models, si64, deployed_model):
    builder = LammpsNequipWorkChain.get_builder()
    builder.lammps.code = lammps_raw_code
    builder.lammps.metadata.options.max_wallclock_seconds = 600
    builder.evaluate.code = evaluate_code
    builder.evaluate.models = committee_models
    builder.evaluate.batch_size = orm.Int(8)
    builder.evaluate.metadata.options.max_wallclock_seconds = 600
    builder.structure = si64
    builder.deployed_model = deployed_model
    for name, value in RUN.items():
        builder[name] = orm.to_aiida_type(value)
    return builder


def validation_message(builder) -> str | None:
    """The first validation error of the builder's inputs with the defaults filled in, as the engine does."""
    namespace = LammpsNequipWorkChain.spec().inputs
    error = namespace.validate(namespace.pre_process(builder._inputs(prune=True)))
    return None if error is None else error.message


def test_debian_lammps_without_pair_nequip_fails_cleanly(builder):
    results, node = run_get_node(builder)
    assert node.exit_status == LammpsNequipWorkChain.exit_codes.ERROR_SUB_PROCESS_FAILED_MD.status
    assert "Unrecognized pair style 'nequip'" in node.exit_message
    assert 'frames' not in results
    md = node.base.links.get_outgoing(link_label_filter='md').one().node
    assert md.process_type == 'aiida.calculations:lammps.raw'
    script = md.inputs.script.get_content()
    assert 'pair_coeff      * * model.nequip.pt2 Si' in script
    assert md.inputs.files.model.uuid == builder.deployed_model.uuid


def test_md_then_committee_evaluation_of_the_dump(builder, tiny_committee, monkeypatch):
    stand_in = lammps_inputs.PairSection(
        newton_pair=True, commands=('pair_style      sw', f'pair_coeff      * * {SW_POTENTIAL} Si')
    )
    monkeypatch.setattr(lammps_inputs, 'pair_section', lambda *_: stand_in)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)

    frames = results['frames'].get_atoms()
    assert [atoms.info['timestep'] for atoms in frames] == list(range(0, 201, 20))
    assert all(len(atoms) == 64 and set(atoms.get_chemical_symbols()) == {'Si'} for atoms in frames)
    assert not results['frames'].base.attributes.get('has_forces')  # the MD forces are not labels
    assert frames[0].info['max_force_deviation'] < 1e-8  # the perfect crystal at step 0
    assert all(atoms.info['max_force_deviation'] > 1e-4 for atoms in frames[1:])
    statistics = results['statistics'].get_dict()
    assert statistics['num_frames'] == 11 and statistics['num_members'] == 2
    assert results['md_results'].get_dict()['compute_variables']['steps_per_second'] > 0

    # the evaluation read the dump in the MD's remote folder, and its numbers are the committee's
    md = node.base.links.get_outgoing(link_label_filter='md').one().node
    evaluation = node.base.links.get_outgoing(link_label_filter='evaluate').one().node
    assert evaluation.inputs.parent_folder.uuid == md.outputs.remote_folder.uuid
    assert results['frames'].creator.uuid == evaluation.uuid
    dump = Path(md.outputs.remote_folder.get_remote_path()) / lammps_inputs.DUMP_FILE
    dumped = read(dump, index=':', format='lammps-dump-text', specorder=['Si'])
    prediction = Committee.from_files(tiny_committee.packages).predict(dumped)
    for index, atoms in enumerate(frames):
        np.testing.assert_array_equal(atoms.positions, dumped[index].positions)
        assert atoms.info['max_force_deviation'] == pytest.approx(
            prediction.frame_deviation(index).max_force_deviation, rel=1e-9, abs=1e-12
        )
    # the script and structure file trace to the work chain's inputs through the calcfunction
    assert md.inputs.script.creator.process_label == 'lammps_nequip_inputs'


@pytest.mark.parametrize(
    ('port', 'value', 'message'),
    [
        ('stride', -5, '`stride` must be at least 1, got -5'),
        ('temperature', -300.0, '`temperature` must be a positive number (K)'),
        ('num_steps', 10, '`stride` (20) is longer than the run (10 steps)'),
        ('pressure', float('nan'), '`pressure` must be a finite number'),
        ('barostat_coupling', 'z', None),  # only used with a pressure
        ('pair_style', 'mace', '`pair_style` must be one of nequip, allegro'),
        ('seed', 0, '`seed` must be a positive integer'),
    ],
)
def test_bad_settings_are_refused(builder, port, value, message):
    builder[port] = orm.to_aiida_type(value)
    result = validation_message(builder)
    if message is None:
        assert result is None
    else:
        assert message in result


def test_bad_models_and_structures_are_refused(builder, committee_models, tmp_path, aiida_computer_local):
    assert validation_message(builder) is None

    package = tmp_path / 'model.nequip.zip'
    package.write_bytes(b'a package, not a compiled model')
    builder.deployed_model = orm.SinglefileData(package)
    assert 'not a `nequip-compile` output' in validation_message(builder)
    builder.deployed_model = orm.SinglefileData(tmp_path / 'model.nequip.zip', filename='m.nequip.pth')

    silicon_carbide = bulk('SiC', 'zincblende', a=4.36, cubic=True)
    builder.structure = orm.StructureData(ase=silicon_carbide)
    assert "species ['C'] that the committee does not know" in validation_message(builder)
    slab = bulk('Si', 'diamond', a=5.43, cubic=True)
    slab.pbc = (True, True, False)
    builder.structure = orm.StructureData(ase=slab)
    assert 'not periodic in all three directions' in validation_message(builder)
    builder.structure = orm.StructureData(ase=bulk('Si', 'diamond', a=5.43, cubic=True))
    assert validation_message(builder) is None

    builder.evaluate.models = {'member1': committee_models['member1']}
    assert 'need at least two models' in validation_message(builder)
    builder.evaluate.models = committee_models

    other = aiida_computer_local()
    builder.evaluate.code = orm.InstalledCode(computer=other, filepath_executable='/usr/bin/true').store()
    assert 'both codes must be on the same computer' in validation_message(builder)
