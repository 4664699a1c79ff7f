"""Exploration MD (``mlipgen-explore``) with the tiny real committee: short runs, early stops, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from ase import Atoms
from ase.build import bulk
from ase.io import read

from aiida_mlipgen.engines.committee import Committee
from aiida_mlipgen.engines.exploration_settings import parse_settings
from aiida_mlipgen.engines.explore import main
from aiida_mlipgen.science.contract import TrustLevels, TrustWindow
from aiida_mlipgen.science.extxyz import write_extxyz
from aiida_mlipgen.science.selection import classify_frames

SCALES_KEY = 'model.sole_model.model.func.per_type_energy_scale_shift.scales'


@pytest.fixture
def structures(tmp_path):
    """A rattled 8-atom and a rattled 16-atom Si cell, written next to the input file."""
    cubic = bulk('Si', 'diamond', a=5.43, cubic=True)
    cubic.rattle(0.05, seed=1)
    long = bulk('Si', 'diamond', a=5.43, cubic=True).repeat((2, 1, 1))
    long.rattle(0.05, seed=2)
    write_extxyz(tmp_path / 'si8.extxyz', [cubic])
    write_extxyz(tmp_path / 'si16.extxyz', [long])
    write_extxyz(tmp_path / 'dimer.extxyz', [Atoms('Si2', positions=[[0, 0, 0], [0, 0, 2.3]])])
    return {'si8': 'si8.extxyz', 'si16': 'si16.extxyz'}


def _write_input(tmp_path, tiny_committee, structure_files, **overrides):
    raw = {
        'models': [str(path) for path in tiny_committee.packages],
        'structures': structure_files,
        'temperatures_K': [300],
        'ensemble': 'nvt-langevin',
        'timestep_fs': 1.0,
        'steps': 40,
        'stride': 10,
        'force_trust_lo': 0.05,
        'force_trust_hi': 5.0,
    }
    raw.update(overrides)
    path = tmp_path / 'explore.yaml'
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _run(tmp_path, input_file):
    arguments = [str(input_file), '--frames', str(tmp_path / 'sampled.extxyz')]
    arguments += ['--statistics', str(tmp_path / 'exploration.json'), '--trajectory-dir', str(tmp_path / 'traj')]
    return main(arguments)


def test_short_md_samples_frames_with_committee_deviations(tiny_committee, structures, tmp_path):
    input_file = _write_input(tmp_path, tiny_committee, structures, temperatures_K=[300, 600])
    assert _run(tmp_path, input_file) == 0

    summary = json.loads((tmp_path / 'exploration.json').read_text())
    frames = read(tmp_path / 'sampled.extxyz', ':')
    assert [c['label'] for c in summary['conditions']] == ['si8_300K', 'si8_600K', 'si16_300K', 'si16_600K']
    assert len(frames) == 4 * 5  # steps 0, 10, 20, 30, 40 of every condition
    for condition in summary['conditions']:
        assert condition['steps_done'] == 40
        assert not condition['stopped_early'] and condition['stop_reason'] is None
        assert condition['accurate'] + condition['candidate'] + condition['failed'] == condition['checks'] == 5
        assert 0.3 * condition['temperature_K'] < condition['temperature_mean_K'] < 2 * condition['temperature_K']
    assert summary['totals']['total'] == 20
    assert not (tmp_path / 'traj').exists(), 'no full trajectory unless asked'

    # every sampled frame's deviations are those of all members on its (lossless) positions
    committee = Committee.from_files(tiny_committee.packages)
    prediction = committee.predict(frames)
    criteria = TrustLevels(force=TrustWindow(0.05, 5.0))
    for index, frame in enumerate(frames):
        assert frame.calc is None, 'model predictions must not look like labels'
        deviation = prediction.frame_deviation(index)
        assert frame.info['max_force_deviation'] == pytest.approx(deviation.max_force_deviation, rel=1e-8)
        assert frame.info['energy_deviation_per_atom'] == pytest.approx(deviation.energy_deviation_per_atom, rel=1e-8)
        assert frame.info['class'] == classify_frames([deviation], criteria)[0]
        # the per-atom deviations whose maximum that is, for selection by the most uncertain atom
        per_atom = frame.arrays['force_deviation']
        assert per_atom.shape == (len(frame),)
        assert per_atom.max() == pytest.approx(frame.info['max_force_deviation'], rel=1e-8)
    assert {frame.info['step'] for frame in frames} == {0, 10, 20, 30, 40}
    assert max(frame.info['max_force_deviation'] for frame in frames) > 0.01


@pytest.mark.parametrize(
    ('ensemble', 'driver', 'pressures'),
    [('nvt-nose-hoover', 'mean', None), ('npt-mtk', 'member0', [2.0]), ('npt-mtk-isotropic', 'mean', [-1.0])],
)
def test_other_ensembles_and_the_mean_driver(tiny_committee, structures, tmp_path, ensemble, driver, pressures):
    overrides = {'ensemble': ensemble, 'driver': driver, 'steps': 20, 'structures': {'si8': structures['si8']}}
    if pressures:
        overrides.update(pressures_GPa=pressures, barostat_damping_fs=50.0)
    overrides.update(full_trajectory=True, trajectory_interval=5)
    assert _run(tmp_path, _write_input(tmp_path, tiny_committee, structures, **overrides)) == 0

    (condition,) = json.loads((tmp_path / 'exploration.json').read_text())['conditions']
    assert condition['steps_done'] == 20 and condition['checks'] == 3
    assert condition['pressure_GPa'] == (pressures[0] if pressures else None)
    trajectory = read(tmp_path / 'traj' / f'{condition["label"]}.extxyz', ':')
    assert [frame.info['step'] for frame in trajectory] == [0, 5, 10, 15, 20]
    volumes = [frame.get_volume() for frame in trajectory]
    if pressures:
        assert abs(volumes[-1] - volumes[0]) > 1e-6, 'the barostat must move the cell'
    else:
        assert volumes[-1] == pytest.approx(volumes[0], rel=1e-12)


def test_explosion_at_5000k_stops_early(tiny_committee, structures, tmp_path):
    overrides = {'temperatures_K': [5000], 'steps': 400, 'stride': 5, 'force_trust_hi': 0.15, 'stop_after': 3}
    overrides['structures'] = {'si8': structures['si8']}
    assert _run(tmp_path, _write_input(tmp_path, tiny_committee, structures, **overrides)) == 0

    (condition,) = json.loads((tmp_path / 'exploration.json').read_text())['conditions']
    assert condition['stopped_early']
    assert 'force_trust_hi (0.15 eV/A) for 3 consecutive checks' in condition['stop_reason']
    assert condition['steps_done'] < 400
    assert condition['failed'] >= 3
    frames = read(tmp_path / 'sampled.extxyz', ':')
    assert [frame.info['class'] for frame in frames[-3:]] == ['failed'] * 3


@pytest.fixture
def broken_checkpoint(tiny_committee, tmp_path):
    """Member 1 with its per-type energy scale multiplied: every force five times too large."""

    def build(factor: float):
        checkpoint = torch.load(tiny_committee.checkpoints[1], weights_only=False, map_location='cpu')
        checkpoint['state_dict'][SCALES_KEY] = checkpoint['state_dict'][SCALES_KEY] * factor
        path = tmp_path / f'broken{factor}.ckpt'
        torch.save(checkpoint, path)
        return path

    return build


def test_a_broken_member_stops_the_run_after_k_checks(tiny_committee, structures, broken_checkpoint, tmp_path):
    models = [str(tiny_committee.checkpoints[0]), str(broken_checkpoint(5.0))]
    overrides = {'models': models, 'structures': {'si8': structures['si8']}, 'force_trust_hi': 0.15, 'stop_after': 2}
    assert _run(tmp_path, _write_input(tmp_path, tiny_committee, structures, **overrides)) == 0

    (condition,) = json.loads((tmp_path / 'exploration.json').read_text())['conditions']
    assert condition['stopped_early']
    assert condition['steps_done'] == 10, 'checks at steps 0 and 10 are both above force_trust_hi'
    assert condition['failed'] == 2 and condition['checks'] == 2


def test_non_finite_predictions_stop_at_once(tiny_committee, structures, broken_checkpoint, tmp_path):
    models = [str(tiny_committee.checkpoints[0]), str(broken_checkpoint(float('nan')))]
    overrides = {'models': models, 'structures': {'si8': structures['si8']}}
    assert _run(tmp_path, _write_input(tmp_path, tiny_committee, structures, **overrides)) == 0

    (condition,) = json.loads((tmp_path / 'exploration.json').read_text())['conditions']
    assert condition['stopped_early'] and condition['steps_done'] == 0
    assert condition['stop_reason'].startswith('non-finite committee predictions')
    assert condition['failed'] == 1


@pytest.mark.parametrize(
    ('overrides', 'message'),
    [
        ({'temperatures_K': [300, -10]}, '`temperatures_K` must be positive'),
        ({'timestep_fs': -0.5}, '`timestep_fs` must be positive'),
        ({'timestep_fs': 0}, '`timestep_fs` must be positive'),
        ({'temperatures_K': []}, 'grid would be empty'),
        ({'structures': {}}, 'grid would be empty'),
        ({'ensemble': 'npt-mtk'}, '`pressures_GPa` must be a non-empty list'),
        ({'pressures_GPa': [1.0]}, 'keeps the volume fixed'),
        ({'ensemble': 'nve'}, '`ensemble` must be one of'),
        ({'stride': 50}, 'no frame would be checked'),
        ({'steps': 0}, '`steps` must be at least 1'),
        ({'force_trust_lo': 0.2, 'force_trust_hi': 0.1}, 'must be smaller than hi'),
        ({'trust_lo': 0.05}, 'unknown input keys: trust_lo'),
        ({'temperature_K': [300]}, 'unknown input keys: temperature_K'),
        ({'driver': 'member1'}, '`driver` must be one of'),
        ({'structures': {'si8': 'missing.extxyz'}}, 'does not exist'),
        ({'structures': {'dimer': 'dimer.extxyz'}, 'ensemble': 'npt-mtk', 'pressures_GPa': [0]}, 'NPT needs a full'),
        ({'structures': {'dimer': 'dimer.extxyz'}, 'stress_trust_lo': 0.5, 'stress_trust_hi': 2}, 'no stress'),
        ({'energy_trust_lo': 0.01}, 'give both energy_trust_lo and energy_trust_hi'),
        ({'temperatures_K': {'si8': [300], 'liquid': [2500]}}, 'names structures that are not explored: liquid'),
        ({'temperatures_K': {}}, 'empty mapping'),
        ({'temperatures_K': {'si8': []}}, r'`temperatures_K.si8` must be a non-empty list'),
        ({'temperatures_K': {'si8': [300, -5]}}, r'`temperatures_K.si8` must be positive'),
    ],
)
def test_bad_input_rejected(tiny_committee, structures, tmp_path, overrides, message):
    raw = yaml.safe_load(_write_input(tmp_path, tiny_committee, structures, **overrides).read_text())
    with pytest.raises(ValueError, match=message):
        parse_settings(raw, base=tmp_path)


def test_a_single_model_is_not_a_committee(tiny_committee, structures, tmp_path):
    raw = yaml.safe_load(_write_input(tmp_path, tiny_committee, structures).read_text())
    raw['models'] = raw['models'][:1]
    with pytest.raises(ValueError, match='at least two model files'):
        parse_settings(raw, base=tmp_path)


def test_unknown_species_rejected_before_any_md(tiny_committee, structures, tmp_path, capsys):
    germanium = bulk('Ge', 'diamond', a=5.66, cubic=True)
    write_extxyz(tmp_path / 'ge8.extxyz', [germanium])
    structures = {**structures, 'ge8': 'ge8.extxyz'}
    assert _run(tmp_path, _write_input(tmp_path, tiny_committee, structures)) == 2
    assert "structure `ge8` contains species ['Ge']" in capsys.readouterr().err
    assert not (tmp_path / 'sampled.extxyz').exists()
    assert not (tmp_path / 'exploration.json').exists()


def test_missing_input_file(tmp_path, capsys):
    assert main([str(tmp_path / 'nothing.yaml')]) == 2
    assert 'does not exist' in capsys.readouterr().err


def test_the_grid_is_structures_times_temperatures_times_pressures(tiny_committee, structures, tmp_path):
    raw = yaml.safe_load(_write_input(tmp_path, tiny_committee, structures).read_text())
    raw.update(ensemble='npt-mtk', pressures_GPa=[0.0, 5.0, 10.0], temperatures_K=[300, 900])
    settings = parse_settings(raw, base=tmp_path)
    labels = [condition.label for condition in settings.conditions()]
    assert len(labels) == 2 * 2 * 3 == len(set(labels))
    assert labels[:3] == ['si8_300K_0GPa', 'si8_300K_5GPa', 'si8_300K_10GPa']
    assert np.isclose(settings.timestep_fs, 1.0)


def test_an_md_crash_is_recorded_not_raised(tiny_committee, structures, tmp_path):
    """A member that raises mid-run (as an out-of-memory model would) ends that condition with its reason."""
    from aiida_mlipgen.engines.ase_md import run_condition

    raw = yaml.safe_load(_write_input(tmp_path, tiny_committee, structures).read_text())
    settings = parse_settings({**raw, 'structures': {'si8': structures['si8']}}, base=tmp_path)
    committee = Committee.from_files(settings.models)

    def out_of_memory(data):
        raise RuntimeError('simulated out of memory')

    committee.members[1].module = out_of_memory
    result = run_condition(committee, settings, settings.conditions()[0])
    assert result.stopped_early
    assert result.stop_reason == 'MD failed at step 0: RuntimeError: simulated out of memory'
    assert result.statistics(settings.steps)['checks'] == 0


def test_temperatures_per_structure_explore_each_structure_at_its_own(tiny_committee, structures, tmp_path):
    # A crystal that must not melt and a cell explored hot only; a structure left out is not explored.
    raw = yaml.safe_load(_write_input(tmp_path, tiny_committee, structures).read_text())
    raw['temperatures_K'] = {'si16': [2500], 'si8': [300, 900]}
    settings = parse_settings(raw, base=tmp_path)
    assert [condition.label for condition in settings.conditions()] == ['si8_300K', 'si8_900K', 'si16_2500K']
    raw['temperatures_K'] = {'si16': [2500]}
    assert [condition.label for condition in parse_settings(raw, base=tmp_path).conditions()] == ['si16_2500K']
