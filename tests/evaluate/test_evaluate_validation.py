"""Bad input to CommitteeEvaluateCalculation is refused before any job, with a message that names the problem."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_mlipgen.calculations.evaluate import CommitteeEvaluateCalculation
from aiida_mlipgen.data.dataset import DatasetData
from tests.silicon import si_frames


def validation_message(inputs: dict) -> str | None:
    """The message of the first validation error of ``inputs``, or None when they are valid."""
    error = CommitteeEvaluateCalculation.spec().inputs.validate(inputs)
    return None if error is None else error.message


@pytest.fixture
def dump(sw_dump, aiida_profile):
    return orm.SinglefileData(sw_dump).store()


@pytest.fixture
def base(evaluate_code, committee_models):
    """Valid inputs but the frames."""
    return {'code': evaluate_code, 'models': committee_models}


def test_valid_inputs_pass(base, labelled_test_set, dump, aiida_localhost):
    assert validation_message({**base, 'frames': labelled_test_set}) is None
    assert validation_message({**base, 'dump': dump, 'type_symbols': orm.List(['Si'])}) is None
    folder = orm.RemoteData(computer=aiida_localhost, remote_path='/scratch/run')
    inputs = {**base, 'parent_folder': folder, 'dump_filename': orm.Str('md/trajectory.lammpstrj')}
    assert validation_message({**inputs, 'type_symbols': orm.List(['Si'])}) is None


def test_committee_is_checked(base, committee_models, labelled_test_set):
    assert 'the committee is empty' in validation_message({**base, 'models': {}, 'frames': labelled_test_set})
    one = {'member1': committee_models['member1']}
    message = validation_message({**base, 'models': one, 'frames': labelled_test_set})
    assert 'need at least two models' in message


def test_unknown_species_are_refused(base, dump):
    frames = si_frames(2, label=False)
    frames[1].symbols[:2] = 'Ge'
    mixed = DatasetData(frames).store()
    message = validation_message({**base, 'frames': mixed})
    assert "contain species ['Ge'] that the committee does not know" in message
    assert "they know ['Si']" in message
    message = validation_message({**base, 'dump': dump, 'type_symbols': orm.List(['Si', 'C'])})
    assert "`type_symbols` contain species ['C']" in message
    message = validation_message({**base, 'dump': dump, 'type_symbols': orm.List(['Si', 'Xx'])})
    assert 'must be a non-empty list of chemical symbols' in message


def test_frame_sources_are_checked(base, labelled_test_set, dump, aiida_localhost, aiida_computer_local):
    assert 'exactly one of `frames`, `dump` or `parent_folder` (found none)' in validation_message(base)
    both = validation_message({**base, 'frames': labelled_test_set, 'dump': dump})
    assert 'found `frames`, `dump`' in both
    assert 'needs `type_symbols`' in validation_message({**base, 'dump': dump})
    message = validation_message({**base, 'frames': labelled_test_set, 'type_symbols': orm.List(['Si'])})
    assert 'a `frames` dataset knows its species' in message
    message = validation_message(
        {**base, 'dump': dump, 'type_symbols': orm.List(['Si']), 'dump_filename': orm.Str('x.lammpstrj')}
    )
    assert 'only used with `parent_folder`' in message

    folder = orm.RemoteData(computer=aiida_localhost, remote_path='/scratch/run')
    remote = {**base, 'parent_folder': folder, 'type_symbols': orm.List(['Si'])}
    assert 'give `dump_filename`' in validation_message(remote)
    for path in ('/scratch/run/trajectory.lammpstrj', '../other/trajectory.lammpstrj'):
        message = validation_message({**remote, 'dump_filename': orm.Str(path)})
        assert 'must be a relative path inside the parent folder' in message
    elsewhere = orm.RemoteData(computer=aiida_computer_local(), remote_path='/scratch/run')
    message = validation_message({**remote, 'parent_folder': elsewhere, 'dump_filename': orm.Str('t.lammpstrj')})
    assert 'a dump is evaluated where it lies' in message


def test_options_are_checked(base, labelled_test_set):
    inputs = {**base, 'frames': labelled_test_set}
    assert '`device` must be one of cpu, cuda' in validation_message({**inputs, 'device': orm.Str('gpu')})
    assert '`batch_size` must be a positive number' in validation_message({**inputs, 'batch_size': orm.Int(0)})


def test_refused_before_any_job(base, labelled_test_set):
    frames = si_frames(1, label=False)
    frames[0].symbols[0] = 'C'
    builder = CommitteeEvaluateCalculation.get_builder()
    builder.code = base['code']
    builder.models = base['models']
    builder.frames = DatasetData(frames).store()
    count = orm.QueryBuilder().append(orm.CalcJobNode).count()
    with pytest.raises(ValueError, match="species \\['C'\\] that the committee does not know"):
        run_get_node(builder)
    assert orm.QueryBuilder().append(orm.CalcJobNode).count() == count
