"""Labels and file names with spaces, quotes, ``;`` or ``$()`` never reach a shell unquoted.

The submit scripts (``_aiidasubmit.sh``) of our calculations are written by a dry run, with the codes
installed under a directory whose name is hostile and with hostile structure labels and frame metadata;
the teacher's script is then really run by bash: it labels the frame and executes none of the payload.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase import Atoms
from ase.build import bulk

from aiida_mlipgen.data.dataset import DatasetData
from tests.reliability.refusal_cases import Context, fake_model
from tests.silicon import ONE_THREAD, venv_tool

#: A directory name holding every character a shell treats specially, and a command it must never run.
HOSTILE = 'tools dir \'q\' "dq" ; $(touch PWNED) `touch PWNED2`'
TOOLS = (
    'mlipgen-teacher-label',
    'nequip-train',
    'nequip-package',
    'nequip-compile',
    'mlipgen-explore',
    'mlipgen-evaluate',
)


@pytest.fixture
def hostile_codes(aiida_code_installed, tmp_path):
    """Every tool installed under a directory with a hostile name (symbolic links to the real ones)."""
    directory = tmp_path / HOSTILE
    directory.mkdir()
    for tool in TOOLS:
        (directory / tool).symlink_to(venv_tool(tool))

    def code(tool, plugin):
        return aiida_code_installed(
            label=f'hostile-{tool}',
            default_calc_job_plugin=plugin,
            filepath_executable=str(directory / tool),
            prepend_text=ONE_THREAD,
        )

    return {
        'teacher': code('mlipgen-teacher-label', 'mlipgen.teacher_label'),
        'train': code('nequip-train', 'mlipgen.nequip.train'),
        'explore': code('mlipgen-explore', 'mlipgen.explore'),
        'evaluate': code('mlipgen-evaluate', 'mlipgen.evaluate'),
    }


def dry_run(builder) -> Path:
    """The folder a dry run writes (inputs and ``_aiidasubmit.sh``), nothing stored or submitted."""
    builder.metadata.dry_run = True
    builder.metadata.store_provenance = False
    _, node = run_get_node(builder)
    return Path(node.dry_run_info['folder'])


def assert_only_single_quoted(script: str):
    """Outside single-quoted words, no line of the script holds the payload, a command substitution or a `;`."""
    for line in script.splitlines():
        if line.lstrip().startswith('#'):
            continue
        bare = re.sub(r"'[^']*'", '', line)
        assert 'touch PWNED' not in bare and '$(' not in bare and '`' not in bare, line
    subprocess.run(['bash', '-n'], input=script, text=True, check=True)


def labelled_frames(*names: str) -> DatasetData:
    frames = []
    for name in names:
        atoms = bulk('Si', 'diamond', a=5.43)
        atoms.info['name'] = name
        frames.append(Atoms(atoms))
    return DatasetData(frames)


def test_the_teacher_script_runs_the_hostile_path_literally(hostile_codes, tmp_path):
    from aiida_mlipgen.calculations.teacher_label import TeacherLabelCalculation

    builder = TeacherLabelCalculation.get_builder()
    builder.code = hostile_codes['teacher']
    builder.frames = labelled_frames('a b; $(touch PWNED) c')
    builder.calculator = orm.Dict({'calculator': 'aiida_mlipgen.science.teacher:stillinger_weber_silicon'})
    builder.metadata.options = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}, 'withmpi': False}
    folder = dry_run(builder)
    script = (folder / '_aiidasubmit.sh').read_text()
    assert_only_single_quoted(script)

    subprocess.run(['bash', '_aiidasubmit.sh'], cwd=folder, check=True, timeout=300)
    from ase.io import read

    (labelled,) = read(folder / TeacherLabelCalculation.OUTPUT_FILE, index=':')
    assert labelled.info['name'] == 'a b; $(touch PWNED) c'  # metadata kept verbatim, in a file
    assert not list(tmp_path.rglob('PWNED*')) and not list(folder.rglob('PWNED*'))


def test_training_exploration_and_evaluation_scripts_quote_every_path(hostile_codes, tmp_path):
    from aiida_mlipgen.calculations.evaluate import CommitteeEvaluateCalculation
    from aiida_mlipgen.calculations.explore import ExploreCalculation
    from aiida_mlipgen.calculations.nequip_train import NequipTrainCalculation
    from tests.reliability.refusal_cases import labelled

    context = Context(codes=hostile_codes, folder=tmp_path, profile='')
    models = {f'member{index}': fake_model(context, ['Si']) for index in range(2)}
    options = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}, 'withmpi': False}

    train = NequipTrainCalculation.get_builder()
    train.code = hostile_codes['train']
    train.training_dataset = labelled([bulk('Si', 'diamond', a=5.40 + 0.01 * index) for index in range(4)])
    train.validation_fraction = orm.Float(0.25)
    train.seed = orm.Int(1)
    train.hyperparameters = orm.Dict({'max_epochs': 1})
    train.compile_target = orm.Str('ase')
    train.metadata.options = options

    structure = orm.StructureData(ase=bulk('Si', 'diamond', a=5.43))
    structure.label = "si $(touch PWNED); 'q'"
    explore = ExploreCalculation.get_builder()
    explore.code = hostile_codes['explore']
    explore.models = models
    explore.structures = {'si2': structure}
    explore.conditions = orm.Dict(
        {'temperatures_K': [300.0], 'steps': 10, 'stride': 5, 'timestep_fs': 1.0, 'ensemble': 'nvt-langevin'}
    )
    explore.metadata.options = options

    evaluate = CommitteeEvaluateCalculation.get_builder()
    evaluate.code = hostile_codes['evaluate']
    evaluate.models = models
    evaluate.frames = labelled_frames('x; $(touch PWNED)')
    evaluate.metadata.options = options

    for builder in (train, explore, evaluate):
        folder = dry_run(builder)
        script = (folder / '_aiidasubmit.sh').read_text()
        assert_only_single_quoted(script)
        executable = str(builder.code.filepath_executable)
        words = [shlex.split(line) for line in script.splitlines() if line.strip() and not line.startswith('#')]
        assert any(executable in line for line in words), script  # the hostile path is one literal word
        assert "touch PWNED); 'q'" not in script  # the structure label is never written anywhere
