"""CommitteeEvaluateCalculation with the real ``mlipgen-evaluate`` and a tiny real NequIP committee."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from aiida import orm
from aiida.common.folders import SandboxFolder
from aiida.engine import run_get_node
from aiida.engine.utils import instantiate_process
from aiida.manage import get_manager
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read

from aiida_mlipgen.calculations.evaluate import CommitteeEvaluateCalculation
from aiida_mlipgen.engines.committee import Committee
from aiida_mlipgen.parsers.evaluate_files import DEVIATION_UNITS
from aiida_mlipgen.science.metrics import compare_frames
from tests.evaluate.conftest import SW_DUMP_FRAMES


def _builder(code, models, **inputs):
    builder = CommitteeEvaluateCalculation.get_builder()
    builder.code = code
    builder.models = models
    for name, value in inputs.items():
        builder[name] = value
    builder.metadata.options.max_wallclock_seconds = 600
    return builder


def _command_arguments(node) -> list[str]:
    """The arguments of ``mlipgen-evaluate`` in the submission script the job ran."""
    script = node.base.repository.get_object_content('_aiidasubmit.sh', mode='r')
    line = next(line for line in script.splitlines() if '--models' in line)
    return shlex.split(line)


def test_labelled_test_set_gives_deviations_and_errors(
    evaluate_code, committee_models, labelled_test_set, tiny_committee
):
    builder = _builder(evaluate_code, committee_models, frames=labelled_test_set, batch_size=orm.Int(4))
    results, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)

    reference = labelled_test_set.get_atoms()
    prediction = Committee.from_files(tiny_committee.packages).predict(reference)
    frames = results['frames'].get_atoms()
    assert len(frames) == len(reference) == 6
    for index, (atoms, original) in enumerate(zip(frames, reference, strict=True)):
        # the labels are the input's, bit for bit; the committee mean only under committee_* names
        assert atoms.get_potential_energy() == original.get_potential_energy()
        np.testing.assert_array_equal(atoms.get_forces(), original.get_forces())
        np.testing.assert_array_equal(atoms.get_stress(), original.get_stress())
        assert atoms.info['committee_energy'] == pytest.approx(prediction.mean(index)['energy'], rel=1e-12)
        assert atoms.info['committee_energy'] != atoms.get_potential_energy()
        deviation = prediction.frame_deviation(index)
        for name in DEVIATION_UNITS:
            assert atoms.info[name] == pytest.approx(getattr(deviation, name), rel=1e-9)

    predicted = []
    for index, atoms in enumerate(reference):
        mean = prediction.mean(index)
        copy = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
        copy.calc = SinglePointCalculator(copy, energy=mean['energy'], forces=mean['forces'], stress=mean['stress'])
        predicted.append(copy)
    expected = compare_frames(reference, predicted)
    metrics = results['metrics'].get_dict()
    assert metrics['energy_mae_eV_per_atom'] == pytest.approx(expected['energy_per_atom']['mae'], rel=1e-9)
    assert metrics['forces_rmse_eV_per_A'] == pytest.approx(expected['forces']['rmse'], rel=1e-9)
    assert metrics['stress_mae_GPa'] == pytest.approx(expected['stress']['mae'], rel=1e-9)
    assert -1.0 <= metrics['deviation_error_spearman'] <= 1.0
    assert metrics['num_frames'] == 6

    statistics = results['statistics'].get_dict()
    assert statistics['num_frames'] == 6 and statistics['num_members'] == 2 and statistics['batch_size'] == 4
    maxima = [atoms.info['max_force_deviation'] for atoms in frames]
    assert statistics['deviations']['max_force_deviation']['max'] == pytest.approx(max(maxima))
    assert statistics['deviations']['max_force_deviation']['count'] == 6

    # the models and frames are copied into the job folder and named relative to it
    arguments = _command_arguments(node)
    assert arguments[1:4] == ['--models', 'model_member1.nequip.zip', 'model_member2.nequip.zip']
    assert not any(argument.startswith('/') for argument in arguments[1:])
    assert '--with-mean' in arguments


def test_dump_is_evaluated_where_it_lies(
    evaluate_code, committee_models, tiny_committee, sw_dump, aiida_localhost, tmp_path
):
    md_folder = tmp_path / 'md_job'
    md_folder.mkdir()
    shutil.copy(sw_dump, md_folder / 'trajectory.lammpstrj')
    parent = orm.RemoteData(computer=aiida_localhost, remote_path=str(md_folder)).store()
    builder = _builder(
        evaluate_code,
        committee_models,
        parent_folder=parent,
        dump_filename=orm.Str('trajectory.lammpstrj'),
        type_symbols=orm.List(['Si']),
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    assert 'metrics' not in results  # a dump has no labels

    dataset = results['frames']
    assert dataset.num_frames == SW_DUMP_FRAMES
    assert dataset.species == ['Si']
    attributes = dataset.base.attributes
    assert not attributes.get('has_energy') and not attributes.get('has_forces')
    frames = dataset.get_atoms()
    assert [atoms.info['timestep'] for atoms in frames] == list(range(0, 101, 10))
    # the first frame is the perfect crystal: zero forces by symmetry for every member
    assert frames[0].info['max_force_deviation'] < 1e-8
    assert all(atoms.info['max_force_deviation'] > 1e-4 for atoms in frames[1:])

    dumped = read(sw_dump, index=':', format='lammps-dump-text', specorder=['Si'])
    prediction = Committee.from_files(tiny_committee.packages).predict(dumped)
    for index, (atoms, original) in enumerate(zip(frames, dumped, strict=True)):
        np.testing.assert_array_equal(atoms.positions, original.positions)
        assert atoms.info['max_force_deviation'] == pytest.approx(
            prediction.frame_deviation(index).max_force_deviation, rel=1e-9, abs=1e-12
        )

    # the dump was symlinked into the job folder, not copied
    link = Path(node.outputs.remote_folder.get_remote_path()) / CommitteeEvaluateCalculation.DUMP_FILE
    assert link.is_symlink()
    assert link.resolve() == (md_folder / 'trajectory.lammpstrj').resolve()

    statistics = results['statistics'].get_dict()
    assert statistics['deviations']['max_force_deviation']['max'] == pytest.approx(
        max(atoms.info['max_force_deviation'] for atoms in frames)
    )
    assert statistics['evaluation_seconds'] > 0


def test_missing_dump_is_reported(evaluate_code, committee_models, aiida_localhost, tmp_path):
    parent = orm.RemoteData(computer=aiida_localhost, remote_path=str(tmp_path)).store()
    builder = _builder(
        evaluate_code,
        committee_models,
        parent_folder=parent,
        dump_filename=orm.Str('no_such_dump.lammpstrj'),
        type_symbols=orm.List(['Si']),
    )
    _, node = run_get_node(builder)
    assert node.exit_status == CommitteeEvaluateCalculation.exit_codes.ERROR_READING_FRAMES.status
    assert 'does not exist' in node.exit_message


def test_dump_with_more_atom_types_than_symbols_fails_cleanly(evaluate_code, committee_models, sw_dump, tmp_path):
    # Atom 1 of every frame becomes LAMMPS type 2, which `type_symbols` does not name.
    lines = sw_dump.read_text().splitlines()
    lines = [('1 2 ' + line[4:]) if line.startswith('1 1 ') else line for line in lines]
    path = tmp_path / 'two_types.lammpstrj'
    path.write_text('\n'.join(lines) + '\n')
    builder = _builder(evaluate_code, committee_models, dump=orm.SinglefileData(path), type_symbols=orm.List(['Si']))
    _, node = run_get_node(builder)
    assert node.exit_status == CommitteeEvaluateCalculation.exit_codes.ERROR_EVALUATION_FAILED.status
    assert 'IndexError' in node.exit_message


def _prepare(inputs: dict) -> tuple:
    """Run ``prepare_for_submission`` into a sandbox; return the calcinfo and the sandbox's file names."""
    process = instantiate_process(get_manager().get_runner(), CommitteeEvaluateCalculation, **inputs)
    with SandboxFolder() as folder:
        calcinfo = process.prepare_for_submission(folder)
        return calcinfo, folder.get_content_list()


def test_inputs_written_for_each_frame_source(
    evaluate_code, committee_models, labelled_test_set, sw_dump, aiida_localhost, data_regression
):
    dump = orm.SinglefileData(sw_dump).store()
    parent = orm.RemoteData(computer=aiida_localhost, remote_path='/scratch/md/job_1').store()
    names = {labelled_test_set.uuid: 'frames', dump.uuid: 'dump', aiida_localhost.uuid: 'localhost'}
    names.update({model.uuid: key for key, model in committee_models.items()})
    sources = {
        'frames': {'frames': labelled_test_set},
        'dump': {'dump': dump, 'type_symbols': orm.List(['Si'])},
        'parent_folder': {
            'parent_folder': parent,
            'dump_filename': orm.Str('trajectory.lammpstrj'),
            'type_symbols': orm.List(['Si']),
        },
    }
    written = {}
    for source, inputs in sources.items():
        calcinfo, files = _prepare(
            {'code': evaluate_code, 'models': committee_models, 'device': orm.Str('cuda'), **inputs}
        )
        assert files == []  # everything comes from the repository or the remote, nothing from here
        written[source] = {
            'cmdline_params': calcinfo.codes_info[0].cmdline_params,
            'local_copy_list': [[names[uuid], name, target] for uuid, name, target in calcinfo.local_copy_list],
            'remote_symlink_list': [[names[uuid], path, target] for uuid, path, target in calcinfo.remote_symlink_list],
            'retrieve_list': calcinfo.retrieve_list,
            'retrieve_temporary_list': calcinfo.retrieve_temporary_list,
        }
    data_regression.check(written)
