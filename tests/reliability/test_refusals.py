"""Every malformed input of ``refusal_cases.CASES`` is refused before any job runs, in one line naming the problem."""

from __future__ import annotations

import pytest
from aiida import orm

from tests.reliability.refusal_cases import CASES, CODE_ROLES, Context, executable, run_case
from tests.silicon import ONE_THREAD, venv_tool


@pytest.fixture(scope='module')
def cache():
    """What the cases build once per module (the loop's inputs): the codes below are the same stored nodes."""
    return {}


@pytest.fixture
def context(aiida_profile, aiida_code_installed, pw_code, pseudo_family, tmp_path, cache):
    """The real codes of every stage (none of them runs) and a folder for the cases' files."""

    codes = {'pw': pw_code}
    for role, (label, name, plugin) in CODE_ROLES.items():
        if role != 'pw':
            path = executable(name) or pytest.fail(f'`{name}` is not installed: run `make install` first')
            codes[role] = aiida_code_installed(
                label=label, default_calc_job_plugin=plugin, filepath_executable=path, prepend_text=ONE_THREAD
            )
    return Context(codes=codes, folder=tmp_path, profile=aiida_profile.name, cache=cache)


@pytest.mark.parametrize('case', CASES, ids=[case.id for case in CASES])
def test_malformed_input_is_refused_before_any_job(case, context):
    before = orm.QueryBuilder().append(orm.ProcessNode).count()
    outcome = run_case(case, context)
    assert outcome.refused, f'{case.id} ({case.problem}) was not refused'
    assert not outcome.traceback, outcome.message
    assert outcome.names_problem, f'{case.id}: {outcome.message!r} does not match {case.match!r}'
    assert outcome.one_line, outcome.message
    assert orm.QueryBuilder().append(orm.ProcessNode).count() == before


def test_the_table_covers_every_work_chain_the_command_line_and_the_data_types():
    targets = {case.target for case in CASES}
    assert {
        'ActiveLearningWorkChain',
        'LabellingWorkChain',
        'TeacherLabellingWorkChain',
        'TrainingWorkChain',
        'NequipTrainBaseWorkChain',
        'ExplorationWorkChain',
        'ClassicalSamplingWorkChain',
        'BenchmarkWorkChain',
        'LammpsNequipWorkChain',
        'CommitteeEvaluateCalculation',
        'DatasetData',
        'ModelData',
        'mlipgen run',
    } <= targets
    assert len({case.id for case in CASES}) == len(CASES)


def test_the_real_command_prints_one_line_and_no_traceback(tmp_path):
    """``mlipgen run`` as a user runs it: a `.cif` that is not a CIF (ASE raises a bare AssertionError)."""
    import subprocess

    path = tmp_path / 'seed.cif'
    path.write_text('hello, not a CIF\n', encoding='utf-8')
    result = subprocess.run(
        [venv_tool('mlipgen'), 'run', str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode != 0
    assert 'Traceback' not in result.stderr + result.stdout
    assert result.stderr.strip().splitlines() == [
        f'Error: {path}: not a readable structure file for ASE (format from the name `.cif`; AssertionError: '
        'no further detail)'
    ]


def test_a_dataset_labelled_before_is_relabelled_with_its_label_keys(context):
    """The label keys a labelling wrote are no collision when the dataset is relabelled (it records settings)."""
    from ase.build import bulk

    from tests.reliability.refusal_cases import labelled, labelling, process_refusal

    atoms = bulk('Si', 'diamond', a=5.43)
    atoms.info.update({'frame_key': 'frame_00000', 'pw_calculation_uuid': 'old', 'name': 'kept'})
    dataset = labelled([atoms], {'code': 'quantumespresso.pw', 'sha256': 'old settings'})
    assert process_refusal(*labelling(context, structures={}, dataset=dataset)) is None
