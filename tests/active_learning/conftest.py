"""Fixtures of the loop tests: every real code, the tiniest settings that still run them all."""

from __future__ import annotations

import pytest
from aiida import orm
from ase.build import bulk

from tests.silicon import ONE_THREAD, venv_tool

#: Two-atom cells, low cutoffs, tiny two-member committees, short MD: a loop iteration in about a minute.
TINY_OVERRIDES = {
    'max_iterations': 2,
    'split': {'train': 0.6, 'validation': 0.2, 'test': 0.2},
    'initial_set': {
        'min_atoms': None,
        'rattle_amplitudes_A': [0.05, 0.1],
        'copies_per_amplitude': 2,
        'volume_changes_percent': [-4.0, 4.0],
        'shear_strains': [],
    },
    'selection': {'max_selected': 2},
    'trust_levels': {'force_trust_lo': 0.0, 'force_trust_hi': 1000.0},
    'exploration_test': {'per_condition': 1, 'min_frames': 1},
    'exploration_schedule': [{'temperatures_K': [300]}, {'temperatures_K': [600]}],
    'label': {'pw': {'kpoints_distance': 0.6, 'pw': {'parameters': {'SYSTEM': {'ecutwfc': 16.0, 'ecutrho': 64.0}}}}},
    'train': {
        'committee_size': 2,
        'min_members': 2,
        'train': {
            'nequip': {
                'hyperparameters': {
                    'cutoff_radius': 4.0,
                    'num_layers': 2,
                    'num_features': 8,
                    'radial_mlp_width': 8,
                    'l_max': 1,
                    'max_epochs': 3,
                    'batch_size': 4,
                    'device': 'cpu',
                }
            }
        },
    },
    'explore': {'conditions': {'steps': 40, 'stride': 10, 'timestep_fs': 2.0, 'stop_after': 3}},
}


@pytest.fixture
def loop_codes(aiida_code_installed, pw_code):
    """The four codes of the loop on the test localhost."""

    def code(label, plugin):
        return aiida_code_installed(
            label=label, default_calc_job_plugin=plugin, filepath_executable=venv_tool(label), prepend_text=ONE_THREAD
        )

    return {
        'pw': pw_code,
        'train': code('nequip-train', 'mlipgen.nequip.train'),
        'explore': code('mlipgen-explore', 'mlipgen.explore'),
        'evaluate': code('mlipgen-evaluate', 'mlipgen.evaluate'),
    }


@pytest.fixture
def silicon_seed():
    """Two-atom diamond silicon as the only seed (stored, so every test starts from the same node)."""
    return {'si2': orm.StructureData(ase=bulk('Si', 'diamond', a=5.43))}


@pytest.fixture
def loop_builder(loop_codes, silicon_seed, pseudo_family):
    """A builder factory: the fast protocol with the tiny overrides, plus the test's own."""
    from aiida_quantumespresso.workflows.protocols.utils import recursive_merge

    from aiida_mlipgen.workflows.active_learning import ActiveLearningWorkChain

    def factory(overrides=None):
        return ActiveLearningWorkChain.get_builder_from_protocol(
            loop_codes, silicon_seed, protocol='fast', overrides=recursive_merge(TINY_OVERRIDES, overrides or {})
        )

    return factory
