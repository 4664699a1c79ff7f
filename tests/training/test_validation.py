"""Bad inputs are refused with a clear message before any job is submitted."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_mlipgen.calculations.nequip_train import NequipTrainCalculation
from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.workflows.training import TrainingWorkChain
from tests.training.conftest import TINY_HYPERPARAMETERS, labelled_silicon


def _count(node_class) -> int:
    return orm.QueryBuilder().append(node_class).count()


def _refused(builder, message: str) -> None:
    """Running ``builder`` fails on validation with ``message``, and no process ran."""
    processes = _count(orm.ProcessNode)
    with pytest.raises(ValueError, match='validating') as error:
        run_get_node(builder)
    assert message in str(error.value)
    assert _count(orm.ProcessNode) == processes


@pytest.fixture
def committee(nequip_code, silicon_datasets):
    """A valid committee builder (fast protocol) for the tests to spoil."""

    def factory(training=None, validation=None, **overrides):
        default_training, default_validation = silicon_datasets
        return TrainingWorkChain.get_builder_from_protocol(
            nequip_code,
            training or default_training,
            validation or default_validation,
            protocol='fast',
            overrides={'train': {'nequip': {'hyperparameters': TINY_HYPERPARAMETERS}}, **overrides},
        )

    return factory


def test_dataset_without_forces(committee):
    frames = labelled_silicon(4, seed=3)
    for atoms in frames:
        del atoms.calc.results['forces']
    _refused(committee(training=DatasetData(frames).store()), 'has frames without forces')


def test_validation_species_missing_from_training(committee):
    frames = labelled_silicon(3, seed=4)
    frames[0].symbols[0] = 'Ge'  # a Ge atom the Si-only training set never shows
    _refused(committee(validation=DatasetData(frames).store()), "species ['Ge'] that are not in the training dataset")


@pytest.mark.parametrize('cutoff', [0.0, -1.0])
def test_cutoff_not_positive(committee, cutoff):
    """The port validator refuses it as soon as the builder is given it."""
    hyperparameters = {**TINY_HYPERPARAMETERS, 'cutoff_radius': cutoff}
    with pytest.raises(ValueError, match='hyperparameter `cutoff_radius` must be a positive number'):
        committee(train={'nequip': {'hyperparameters': hyperparameters}})


def test_committee_of_one(committee):
    _refused(committee(committee_size=1, min_members=1), 'a committee needs at least 2 members')


def test_min_members_above_committee_size(committee):
    _refused(committee(committee_size=3, min_members=4), '`min_members` must lie between 1 and `committee_size`')


def test_parent_model_key_that_is_no_member(committee, silicon_datasets):
    builder = committee(committee_size=2)
    builder.parent_models = {'member_5': _fake_parent(species=['Si'])}
    _refused(builder, "`parent_models` has keys ['member_5']")


def test_parent_model_without_a_species_of_the_data(committee):
    builder = committee(committee_size=2)
    builder.parent_models = {'member_1': _fake_parent(species=['Ge'])}
    _refused(builder, 'member_1: the parent model')


def test_calculation_needs_exactly_one_validation_source(nequip_code, silicon_datasets):
    training, validation = silicon_datasets
    builder = NequipTrainCalculation.get_builder()
    builder.code = nequip_code
    builder.training_dataset = training
    builder.seed = orm.Int(1)
    _refused(builder, 'give either a `validation_dataset` or a `validation_fraction`')
    builder.validation_dataset = validation
    builder.validation_fraction = orm.Float(0.1)
    _refused(builder, 'give either a `validation_dataset` or a `validation_fraction`')
    del builder.validation_dataset
    builder.validation_fraction = orm.Float(0.01)
    _refused(builder, 'leaves an empty training or validation set')


def test_calculation_takes_one_checkpoint_to_resume(nequip_code, silicon_datasets, aiida_localhost, tmp_path):
    training, validation = silicon_datasets
    (tmp_path / 'last.ckpt').write_bytes(b'not used')
    builder = NequipTrainCalculation.get_builder()
    builder.code = nequip_code
    builder.training_dataset = training
    builder.validation_dataset = validation
    builder.seed = orm.Int(1)
    builder.checkpoint = orm.SinglefileData(tmp_path / 'last.ckpt')
    builder.parent_folder = orm.RemoteData(computer=aiida_localhost, remote_path=str(tmp_path))
    _refused(builder, 'either as `checkpoint` or in a `parent_folder`')


def _fake_parent(species):
    """A stored ModelData whose package holds nothing but metadata: enough for the validators."""
    import io
    import tempfile
    import zipfile
    from pathlib import Path

    from aiida_mlipgen.data.model import ModelData

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as archive:
        types = '\n'.join(f'  {index}: {name}' for index, name in enumerate(species))
        archive.writestr('parent.nequip/model/package_metadata.txt', f'atom_types:\n{types}\n')
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / 'parent.nequip.zip'
        path.write_bytes(buffer.getvalue())
        return ModelData(path, cutoff=4.0).store()
