"""DFT faults: the real LabellingWorkChain on tiny Si cells through a pw.x that fails chosen frames.

``faulty_pw.py`` stands in for pw.x and makes the real pw.x fail the way production runs fail: SCF not
converged, walltime, a crash with a cut output, and an SCF stopped after one step that still prints
forces and "convergence has been achieved". Recoverable frames come back through PwBaseWorkChain's
restart handlers; the others are quarantined with their reason; no frame whose SCF did not converge
reaches the dataset.
"""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from tests.conftest import MPI_PREPEND, require_executable
from tests.faults import dft_campaign as campaign


@pytest.mark.slow
def test_recoverable_dft_faults_recover_and_the_rest_are_quarantined(aiida_localhost, pseudo_family, tmp_path):
    from aiida_quantumespresso.calculations.pw import PwCalculation

    structures = campaign.plan_structures()
    plan = campaign.write_plan(tmp_path / 'plan.json', structures, require_executable('pw.x'))
    code = campaign.faulty_pw_code(aiida_localhost, plan, MPI_PREPEND)
    results, node = run_get_node(campaign.labelling_builder(code, structures))
    assert node.is_finished_ok, node.exit_message  # partial success is success

    outcome = campaign.outcome(node, structures, plan)
    faults = {name for name, (_, fault, _) in campaign.PLAN.items() if fault}
    assert len(outcome['faults_injected']) == len(faults)  # every planned fault hit a real pw.x run
    assert set(outcome['labelled']) == campaign.RECOVERED, outcome['quarantined']
    assert set(outcome['quarantined']) == set(campaign.PLAN) - campaign.RECOVERED
    assert outcome['frames_lost'] == outcome['labelled_twice'] == outcome['unconverged_in_dataset'] == []
    assert sorted(outcome['faults_survived']) == sorted(faults)

    # Recovered by PwBaseWorkChain: the first attempt failed for the injected reason, a later one passed.
    codes = PwCalculation.exit_codes
    runs, calculations = outcome['pw_runs'], campaign.attempts(node)
    assert set(runs['clean']) == {0}, runs
    assert runs['scf_once'][0] == codes.ERROR_ELECTRONIC_CONVERGENCE_NOT_REACHED.status and runs['scf_once'][-1] == 0
    assert runs['walltime_once'][0] == codes.ERROR_OUT_OF_WALLTIME.status and runs['walltime_once'][-1] == 0, runs
    assert calculations['walltime_once'][1].inputs.parameters['CONTROL']['restart_mode'] == 'restart'
    # A cut output and exit 137: no handler knows it, so it is run once more (`on_unhandled_failure`).
    assert runs['crash_once'] == [codes.ERROR_OUTPUT_FILES.status, 0], runs  # neither stdout nor XML complete

    # Quarantined with their reasons: out of attempts, crashed twice, or an SCF that only said it converged.
    failures = results['failures'].get_dict()
    assert len(runs['scf_always']) == campaign.MAX_ATTEMPTS
    assert runs['crash_always'] == [codes.ERROR_OUTPUT_FILES.status] * 2
    assert failures['scf_always']['stage'] == failures['crash_always']['stage'] == 'dft'
    assert failures['silent_scf']['stage'] == 'quality'
    assert failures['silent_scf']['reason'].startswith('SCF not converged: estimated accuracy')
    assert all(record['reason'] and record['process_uuid'] for record in failures.values())
    (silent,) = calculations['silent_scf']
    assert silent.is_finished_ok and not campaign.scf_converged(silent)  # the parser took it for converged
    assert 'convergence has been achieved' in silent.outputs.retrieved.get_object_content('aiida.out')

    # Every frame in the dataset: a run that reached pw.x's own threshold, as its output says.
    for atoms in results['dataset'].get_atoms():
        calculation = orm.load_node(atoms.info['pw_calculation_uuid'])
        assert calculation.is_finished_ok and campaign.scf_converged(calculation), atoms.info['frame_key']
        assert np.isfinite(atoms.get_forces()).all()
