"""Bands of smeared SCF runs: enough that PwBaseWorkChain's band check never has to restart a frame."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.engine import run_get_node
from aiida_quantumespresso.utils.bands import get_highest_occupied_band
from ase.build import bulk

from aiida_mlipgen.science.initial_set import InitialSetRecipe, initial_frames
from aiida_mlipgen.workflows.active_learning import ActiveLearningWorkChain
from aiida_mlipgen.workflows.labelling import LabellingWorkChain
from aiida_mlipgen.workflows.labelling_inputs import labelling_settings, number_of_bands, parameters_for_frame


@pytest.mark.parametrize(
    ('electrons', 'bands'),
    [(8, 12), (32, 24), (256, 192), (7, 12)],  # Si2, Si8, Si64; odd counts round up
)
def test_number_of_bands_leaves_half_again_or_eight_empty(electrons, bands):
    assert number_of_bands(electrons) == bands


def test_parameters_for_frame_adds_bands_only_where_needed():
    smeared = {'SYSTEM': {'occupations': 'smearing', 'ecutwfc': 30.0}}
    assert parameters_for_frame(smeared, 32)['SYSTEM'] == {'occupations': 'smearing', 'ecutwfc': 30.0, 'nbnd': 24}
    assert smeared['SYSTEM'] == {'occupations': 'smearing', 'ecutwfc': 30.0}  # the shared dict is not changed
    assert parameters_for_frame({'SYSTEM': {'tot_charge': 2.0}}, 34)['SYSTEM']['nbnd'] == 24
    fixed = {'SYSTEM': {'occupations': 'fixed'}}
    assert parameters_for_frame(fixed, 32) == fixed
    given = {'SYSTEM': {'occupations': 'smearing', 'nbnd': 40}}
    assert parameters_for_frame(given, 32) == given


def test_bands_do_not_change_the_settings_fingerprint():
    """Labels with per-frame band counts stay mergeable: nbnd is not a physical setting."""
    base = {'SYSTEM': {'occupations': 'smearing', 'ecutwfc': 30.0}}
    assert (
        labelling_settings(base, {}, 0.3, None)['sha256']
        == labelling_settings(parameters_for_frame(base, 32), {}, 0.3, None)['sha256']
    )


def test_demo_si8_frame_is_labelled_in_one_scf_run(pw_code, pseudo_family):
    """The demo's first frame (the ideal 8-atom cell): QE's default 20 bands leave the last band ~0.05
    occupied at the protocol's smearing, and PwBaseWorkChain restarts the frame; with the stage's bands
    it runs once."""
    recipe = ActiveLearningWorkChain.get_protocol_inputs('fast')['initial_set']
    atoms = initial_frames([bulk('Si', 'diamond', a=5.43, cubic=True)], InitialSetRecipe.from_dict(recipe))[0]
    overrides = {'pw': {'kpoints_distance': 0.6}}  # the demo's settings: a 2x2x2 mesh, the fast cutoffs
    builder = LabellingWorkChain.get_builder_from_protocol(
        pw_code, {'si8': orm.StructureData(ase=atoms)}, protocol='fast', overrides=overrides
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_message, node.outputs.failures.get_dict())

    (base,) = [child for child in node.called if child.process_label == 'PwBaseWorkChain']
    calculations = [child for child in base.called if child.process_label == 'PwCalculation']
    assert len(calculations) == 1
    (calculation,) = calculations
    assert calculation.inputs.parameters['SYSTEM']['nbnd'] == 24
    get_highest_occupied_band(calculation.outputs.output_band)  # raises if the last band is occupied
    assert results['dataset'].num_frames == 1
