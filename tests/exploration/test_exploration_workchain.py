"""ExplorationWorkChain: committee MD over a grid with the real mlipgen-explore, and bad input refused."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase.build import bulk

from aiida_mlipgen.data.model import ModelData
from aiida_mlipgen.workflows.exploration import ExplorationWorkChain, grid
from tests.silicon import ONE_THREAD, venv_tool

SHORT = {'conditions': {'steps': 40, 'stride': 10, 'timestep_fs': 2.0}}


@pytest.fixture
def committee_models(tiny_committee, aiida_profile):
    return {
        f'member_{index}': ModelData(path, cutoff=4.0).store() for index, path in enumerate(tiny_committee.packages)
    }


@pytest.fixture
def explore_code(aiida_code_installed):
    return aiida_code_installed(
        label='mlipgen-explore',
        default_calc_job_plugin='mlipgen.explore',
        filepath_executable=venv_tool('mlipgen-explore'),
        prepend_text=ONE_THREAD,
    )


@pytest.fixture
def si8():
    return {'si8': orm.StructureData(ase=bulk('Si', 'diamond', a=5.43, cubic=True))}


def build(code, models, structures, overrides=None):
    from aiida_quantumespresso.workflows.protocols.utils import recursive_merge

    return ExplorationWorkChain.get_builder_from_protocol(
        code, models, structures, protocol='fast', overrides=recursive_merge(SHORT, overrides or {})
    )


def test_grid_gives_one_job_per_condition_with_distinct_seeds():
    jobs = grid({'ensemble': 'npt-mtk', 'temperatures_K': [300, 600], 'pressures_GPa': [0, 5], 'seed': 3}, ['b', 'a'])
    assert [
        (job['structure'], job['conditions']['temperatures_K'], job['conditions']['pressures_GPa']) for job in jobs
    ][:2] == [('a', [300], [0]), ('a', [300], [5])]
    assert len(jobs) == 8 and len({job['conditions']['seed'] for job in jobs}) == 8


def test_grid_with_temperatures_per_structure_explores_only_the_named_structures():
    jobs = grid(
        {'ensemble': 'nvt-langevin', 'temperatures_K': {'crystal': [300, 900], 'liquid': [2500]}},
        ['liquid', 'crystal', 'slab'],
    )
    assert [(job['structure'], job['conditions']['temperatures_K']) for job in jobs] == [
        ('crystal', [300]),
        ('crystal', [900]),
        ('liquid', [2500]),
    ]
    assert len({job['conditions']['seed'] for job in jobs}) == 3


def test_explores_the_grid_and_merges_frames_and_statistics(explore_code, committee_models, si8):
    # A window from 0 up: every frame with a finite deviation is a candidate, if the port reaches the engine.
    trust_levels = {'force_trust_lo': 0.0, 'force_trust_hi': 1000.0}
    overrides = {'conditions': {'temperatures_K': [300, 900]}, 'trust_levels': trust_levels}
    results, node = run_get_node(build(explore_code, committee_models, si8, overrides))
    assert node.is_finished_ok, node.exit_message
    jobs = [child for child in node.called if child.process_label == 'ExploreCalculation']
    assert len(jobs) == 2
    assert all(job.inputs.trust_levels.get_dict() == trust_levels for job in jobs)
    assert results['statistics']['totals']['candidate'] == results['statistics']['totals']['total']
    statistics = results['statistics'].get_dict()
    assert [entry['label'] for entry in statistics['conditions']] == ['si8_300K', 'si8_900K']
    frames = results['frames'].get_atoms()
    assert {atoms.info['condition'] for atoms in frames} == {'si8_300K', 'si8_900K'}
    assert len(frames) == statistics['totals']['total']
    assert all('max_force_deviation' in atoms.info for atoms in frames)
    assert all(atoms.arrays['force_deviation'].max() == atoms.info['max_force_deviation'] for atoms in frames)
    assert not results['frames'].base.attributes.get('has_forces')  # predictions are never labels
    assert results['frames'].creator.process_label == 'merge_datasets'


@pytest.mark.parametrize(
    ('overrides', 'match'),
    [
        ({'trust_levels': {'force_trust_lo': 0.2, 'force_trust_hi': 0.1}}, r'force trust window \(eV/A\)'),
        ({'trust_levels': {'energy_trust_lo': 0.01}}, 'give both energy_trust_lo and energy_trust_hi'),
        ({'conditions': {'force_trust_hi': 0.3}}, r"may not set \['force_trust_hi'\]: give the trust levels"),
        ({'conditions': {'temperatures_K': []}}, 'empty'),
        ({'conditions': {'temperatures_K': [-300]}}, 'positive'),
        ({'conditions': {'temperatures_K': {'si8': [300], 'si64': [900]}}}, 'not explored: si64'),
        ({'conditions': {'timestep_fs': -1.0}}, 'positive'),
        ({'conditions': {'ensemble': 'nve-magic'}}, 'ensemble'),
    ],
)
def test_bad_conditions_are_refused_before_any_job(explore_code, committee_models, si8, overrides, match):
    before = orm.QueryBuilder().append(orm.ProcessNode).count()
    with pytest.raises(ValueError, match=match):  # by the builder already, or on launch
        run_get_node(build(explore_code, committee_models, si8, overrides))
    assert orm.QueryBuilder().append(orm.ProcessNode).count() == before


def test_species_the_committee_does_not_know_are_refused(explore_code, committee_models):
    carbon = {'c8': orm.StructureData(ase=bulk('C', 'diamond', a=3.57, cubic=True))}
    with pytest.raises(ValueError, match='committee knows only'):
        run_get_node(build(explore_code, committee_models, carbon))
