"""A Si-Ge active-learning loop end to end with real pw.x, NequIP and committee MD, at the tiniest size.

The seeds are diamond Si and Ge; the protocol's initial-set recipe adds a Si0.5Ge0.5 SQS made by the
alloy generator; exploration starts from an SQS made by the ``generate_alloys`` calcfunction (both
species in one 4-atom cell, so that the selected frames stay cheap to label). The iteration table and
the exported report carry force errors per species.
"""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.engine import run_get_node
from aiida_quantumespresso.workflows.protocols.utils import recursive_merge
from ase.build import bulk

from aiida_mlipgen.calculations.structure_generators import generate_alloys
from aiida_mlipgen.cli.reporting import export_loop, iteration_table
from aiida_mlipgen.workflows.active_learning import ActiveLearningWorkChain
from tests.active_learning.conftest import TINY_OVERRIDES

pytestmark = pytest.mark.slow

#: A 4-atom Si2Ge2 SQS at the Vegard volume (A^3/atom of diamond Si and Ge), as the alloy generator makes it.
SQS_SETTINGS = {
    'compositions': [{'Si': 0.5, 'Ge': 0.5}],
    'sublattice': 'Si',
    'min_atoms': 4,
    'atomic_volumes_A3': {'Si': 20.02, 'Ge': 22.64},
}
SIGE_OVERRIDES = {
    'max_iterations': 1,
    # 7 initial frames (Ge x 3, Si x 3, then the SQS): split seed 4 holds out the SQS, so both species are tested.
    'split_seed': 4,
    'initial_set': {'copies_per_amplitude': 1, 'volume_changes_percent': [], 'alloys': SQS_SETTINGS},
    'exploration_schedule': [{'temperatures_K': [600]}],
}


@pytest.fixture
def sige_seeds():
    return {
        'si2': orm.StructureData(ase=bulk('Si', 'diamond', a=5.43)),
        'ge2': orm.StructureData(ase=bulk('Ge', 'diamond', a=5.66)),
    }


def test_sige_loop_reports_errors_per_species(loop_codes, pseudo_family, sige_seeds, tmp_path):
    builder = ActiveLearningWorkChain.get_builder_from_protocol(
        loop_codes, sige_seeds, protocol='fast', overrides=recursive_merge(TINY_OVERRIDES, SIGE_OVERRIDES)
    )
    alloys = generate_alloys(settings=orm.Dict(SQS_SETTINGS), si2=sige_seeds['si2'])
    builder.exploration_structures = {'sqs': alloys['si2_000']}
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message

    # The recipe's alloy generator put an SQS into the initial set, inside the generate_initial_set calcfunction.
    generated = next(child for child in node.called if child.process_label == 'generate_initial_set')
    sqs = [atoms for atoms in generated.outputs.result.get_atoms() if atoms.info.get('generator') == 'sqs']
    assert [atoms.get_chemical_formula() for atoms in sqs] == ['Ge2Si2']

    # Both species were labelled by pw.x and trained on.
    training = results['training_dataset'].get_atoms()
    assert {'Si', 'Ge'} <= {symbol for atoms in training for symbol in atoms.get_chemical_symbols()}

    rows = results['iterations']['rows']
    assert len(rows) == 1
    per_species = rows[0]['forces_rmse_per_species_eV_per_A']
    test_species = {symbol for atoms in results['test_dataset'].get_atoms() for symbol in atoms.get_chemical_symbols()}
    assert set(per_species) == test_species == {'Si', 'Ge'}
    assert all(value >= 0 for value in per_species.values())

    table = iteration_table(node)
    print(table)  # shown with `pytest -s -k sige`: the measured per-species errors
    assert 'F RMSE by species' in table
    assert all(f'{symbol} {value:.3f}' in table for symbol, value in per_species.items())
    report = export_loop(node, tmp_path)['report'].read_text(encoding='utf-8')
    assert 'F RMSE by species' in report
