"""Protocol builders, and the job a NequipTrainCalculation writes (dry run: nothing is executed)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml
from aiida import orm
from aiida.engine import run_get_node

from aiida_mlipgen.calculations.nequip_train import NequipTrainCalculation
from aiida_mlipgen.workflows.training import TrainingWorkChain


def _plain(value, names):
    """Builder inputs as plain data: nodes by value, stored nodes by a readable name."""
    if isinstance(value, dict) or hasattr(value, 'items'):
        return {key: _plain(item, names) for key, item in value.items() if item is not None}
    if isinstance(value, orm.Dict):
        return value.get_dict()
    if isinstance(value, (orm.Int, orm.Float, orm.Str, orm.Bool)):
        return value.value
    if isinstance(value, orm.Node):
        return names[value.uuid]
    return value


@pytest.mark.parametrize('protocol', ['fast', 'balanced', 'stringent'])
def test_committee_builder(nequip_code, silicon_datasets, protocol, data_regression):
    training, validation = silicon_datasets
    builder = TrainingWorkChain.get_builder_from_protocol(nequip_code, training, protocol=protocol)
    names = {nequip_code.uuid: 'code', training.uuid: 'training', validation.uuid: 'validation'}
    data_regression.check(_plain(builder._inputs(prune=True), names))


def test_overrides_reach_every_member(nequip_code, silicon_datasets):
    training, validation = silicon_datasets
    overrides = {'committee_size': 6, 'train': {'nequip': {'hyperparameters': {'num_layers': 3}}}}
    builder = TrainingWorkChain.get_builder_from_protocol(
        nequip_code, training, validation, protocol='fast', overrides=overrides
    )
    assert builder.committee_size.value == 6
    hyperparameters = builder.train.nequip.hyperparameters.get_dict()
    assert hyperparameters['num_layers'] == 3 and hyperparameters['num_features'] == 16  # the rest of `fast`
    assert builder.validation_dataset.uuid == validation.uuid
    assert 'validation_fraction' not in builder.train.nequip  # a validation set was given


def test_fast_protocol_is_the_small_model(nequip_code, silicon_datasets):
    builder = TrainingWorkChain.get_builder_from_protocol(nequip_code, silicon_datasets[0], protocol='fast')
    hyperparameters = builder.train.nequip.hyperparameters.get_dict()
    assert (hyperparameters['num_layers'], hyperparameters['num_features'], hyperparameters['l_max']) == (2, 16, 1)
    assert hyperparameters['cutoff_radius'] == 4.0
    assert builder.committee_size.value == 4


def test_job_trains_then_packages_and_compiles(nequip_code, silicon_datasets, data_regression):
    """The submission script runs nequip-train, then nequip-package and nequip-compile from beside it."""
    training, validation = silicon_datasets
    builder = NequipTrainCalculation.get_builder()
    builder.code = nequip_code
    builder.training_dataset = training
    builder.validation_fraction = orm.Float(0.25)
    builder.seed = orm.Int(3)
    builder.hyperparameters = orm.Dict({'max_epochs': 10})
    builder.compile_target = orm.Str('ase')
    builder.metadata.options.max_wallclock_seconds = 3600
    builder.metadata.dry_run = True
    _, node = run_get_node(builder)
    folder = Path(node.dry_run_info['folder'])

    script = (folder / '_aiidasubmit.sh').read_text()
    commands = [shlex.split(line) for line in script.splitlines() if line.strip() and not line.strip().startswith('#')]
    tools = Path(nequip_code.filepath_executable).parent

    def command(tool: str) -> list[str]:
        return next(words for words in commands if words[0] == str(tools / tool))

    assert command('nequip-train')[1:5] == ['-cn', 'config', 'hydra.run.dir=outputs', 'hydra.job.chdir=False']
    assert command('nequip-package')[:4] == [
        str(tools / 'nequip-package'),
        'build',
        'outputs/best.ckpt',
        'model.nequip.zip',
    ]
    assert command('nequip-compile')[:9] == [
        str(tools / 'nequip-compile'),
        'model.nequip.zip',
        'model.nequip.pt2',
        '--mode',
        'aotinductor',
        '--device',
        'cpu',
        '--target',
        'ase',
    ]
    order = [words[0] for words in commands if words[0].startswith(str(tools))]
    assert order == [str(tools / name) for name in ('nequip-train', 'nequip-package', 'nequip-compile')]

    assert sorted(path.name for path in folder.iterdir() if not path.name.startswith('.')) == [
        '_aiidasubmit.sh',
        'config.yaml',
        'training.extxyz',
    ]
    config = yaml.safe_load((folder / 'config.yaml').read_text())
    # 3600 s less 10 % for start-up and packaging and 300 s for compiling
    assert config['trainer']['max_time'] == '00:00:49:00'
    data_regression.check(config)
