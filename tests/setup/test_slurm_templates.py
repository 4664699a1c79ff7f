"""The SLURM templates load into a profile through verdi, and a GPU job's script asks SLURM for the GPU."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml
from aiida import orm
from aiida.calculations.arithmetic.add import ArithmeticAddCalculation
from aiida.cmdline.commands.cmd_verdi import verdi
from aiida.engine import run_get_node
from aiida.plugins import SchedulerFactory
from click.testing import CliRunner

from aiida_mlipgen.workflows.active_learning import ActiveLearningWorkChain

TEMPLATES = Path(__file__).parents[2] / 'setup_profiles' / 'slurm'
EXAMPLES = Path(__file__).parents[2] / 'examples'


def verdi_ok(profile_name: str, *arguments: str) -> str:
    """Run ``verdi -p PROFILE ARGUMENTS`` in this process, fail on a non-zero exit, return the output."""
    result = CliRunner().invoke(verdi, ['-p', profile_name, *arguments], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def load_template_copy(name: str, tmp_path: Path, **changes) -> Path:
    """Copy template ``name`` into ``tmp_path`` with top-level keys changed (labels unique per test)."""
    content = {**yaml.safe_load((TEMPLATES / name).read_text()), **changes}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(content))
    return path


@pytest.fixture
def cluster(aiida_profile, tmp_path, computer_label):
    """The cluster computer and both codes, created by verdi from the templates (labels made unique)."""
    label = computer_label
    setup = load_template_copy('computer_setup.yaml', tmp_path, label=label)
    verdi_ok(aiida_profile.name, 'computer', 'setup', '--config', str(setup), '-n')
    verdi_ok(
        aiida_profile.name,
        'computer', 'configure', 'core.ssh', label, '--config', str(TEMPLATES / 'computer_configure_ssh.yaml'), '-n',
    )  # fmt: skip
    for name in sorted(path.name for path in TEMPLATES.glob('code_*.yaml')):
        code = load_template_copy(name, tmp_path, computer=label)
        verdi_ok(aiida_profile.name, 'code', 'create', 'core.code.installed', '--config', str(code), '-n')
    return orm.load_computer(label)


def test_templates_load_as_written(cluster):
    assert (cluster.transport_type, cluster.scheduler_type) == ('core.ssh', 'core.slurm')
    assert cluster.get_workdir() == '/scratch/{username}/aiida'
    assert cluster.get_mpirun_command() == ['srun', '-n', '{tot_num_mpiprocs}']
    assert cluster.get_authinfo(orm.User.collection.get_default()).get_auth_params()['key_policy'] == 'RejectPolicy'

    pw = orm.load_code(f'pw@{cluster.label}')
    assert (pw.default_calc_job_plugin, pw.with_mpi) == ('quantumespresso.pw', True)
    assert str(pw.filepath_executable) == 'pw.x'  # found on PATH after the module load
    train = orm.load_code(f'nequip-train@{cluster.label}')
    assert train.with_mpi is False
    assert train.default_calc_job_plugin == 'mlipgen.nequip.train'
    for label, plugin in (('mlipgen-explore', 'mlipgen.explore'), ('mlipgen-evaluate', 'mlipgen.evaluate')):
        engine = orm.load_code(f'{label}@{cluster.label}')
        assert (engine.default_calc_job_plugin, engine.with_mpi) == (plugin, False)


def test_ssh_async_configure_template_loads(aiida_profile, tmp_path, computer_label):
    label = computer_label
    setup = load_template_copy('computer_setup.yaml', tmp_path, label=label, transport='core.ssh_async')
    verdi_ok(aiida_profile.name, 'computer', 'setup', '--config', str(setup), '-n')
    verdi_ok(
        aiida_profile.name,
        'computer', 'configure', 'core.ssh_async', label,
        '--config', str(TEMPLATES / 'computer_configure_ssh_async.yaml'), '-n',
    )  # fmt: skip
    assert orm.load_computer(label).is_user_configured(orm.User.collection.get_default())


@pytest.mark.parametrize('name', ['options_cpu.yaml', 'options_gpu.yaml'])
def test_job_options_are_valid_calcjob_options_and_slurm_resources(name):
    options = yaml.safe_load((TEMPLATES / name).read_text())
    assert ArithmeticAddCalculation.spec().inputs['metadata']['options'].validate(options) is None
    resources = SchedulerFactory('core.slurm').job_resource_class(**options['resources'])
    assert resources.num_machines == 1


def test_gpu_job_script_requests_the_gpu_in_its_header(cluster):
    """A dry run writes the real submit script: ``--gres`` must come before the first command."""
    builder = ArithmeticAddCalculation.get_builder()
    builder.code = orm.load_code(f'nequip-train@{cluster.label}')
    builder.x, builder.y = orm.Int(1), orm.Int(2)
    builder.metadata.options = yaml.safe_load((TEMPLATES / 'options_gpu.yaml').read_text())
    builder.metadata.dry_run = True
    _, node = run_get_node(builder)

    script = (Path(node.dry_run_info['folder']) / '_aiidasubmit.sh').read_text().splitlines()
    first_command = next(i for i, line in enumerate(script) if line.strip() and not line.startswith('#'))
    header = script[:first_command]
    assert '#SBATCH --gres=gpu:1' in header
    assert '#SBATCH --partition=REPLACE-ME-GPU-PARTITION' in header
    assert '#SBATCH --cpus-per-task=8' in header
    assert 'module load REPLACE-ME-CUDA-MODULE' in script[first_command:]


def test_production_example_builds_a_valid_loop_for_the_templated_cluster(cluster, pseudo_family, tmp_path):
    """examples/production_silicon.py, given the templates' computer, codes and options, builds a loop
    whose every input validates, with DFT on the CPU partition and NequIP jobs on a GPU each."""
    spec = importlib.util.spec_from_file_location('production_silicon', EXAMPLES / 'production_silicon.py')
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)  # not run as __main__: nothing is submitted

    builder = example.build(cluster.label, TEMPLATES)
    assert ActiveLearningWorkChain.spec().inputs.validate(builder._inputs(prune=True)) is None

    assert builder.seed_structures['si64'].get_ase().get_global_number_of_atoms() == 64
    assert len(builder.exploration_structures['si216'].sites) == 216
    pw_options = builder.label.pw.pw.metadata.options
    assert pw_options['queue_name'] == 'REPLACE-ME-CPU-PARTITION' and pw_options['withmpi'] is True
    for options in (
        builder.train.train.nequip.metadata.options,
        builder.explore.explore.metadata.options,
        builder.evaluate.metadata.options,
    ):
        assert options['queue_name'] == 'REPLACE-ME-GPU-PARTITION'
        assert '--gres=gpu:1' in options['custom_scheduler_commands']
    assert builder.explore.conditions['device'] == 'cuda' and builder.evaluate.device.value == 'cuda'
    assert builder.label.pw.pw.code.computer.label == cluster.label
    assert builder.max_dft_calls.value == 1000 and builder.target_force_rmse.value == 0.05
