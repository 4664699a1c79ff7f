"""Calcfunctions that write the active-learning loop's per-iteration table from the stages' outputs.

Each row is computed from the output nodes of the iteration's stages (passed as inputs), so every
number of the final table links back in the graph to the training, exploration, selection,
labelling and test evaluation it came from.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from aiida_mlipgen.data.dataset import DatasetData

#: Keys of the committee's test-set metrics copied into the table (units in the names).
TEST_METRIC_KEYS = (
    'energy_mae_eV_per_atom',
    'energy_rmse_eV_per_atom',
    'forces_mae_eV_per_A',
    'forces_rmse_eV_per_A',
    'stress_mae_GPa',
    'stress_rmse_GPa',
)


def test_errors(metrics: dict) -> dict:
    """The table's test-error columns from a metrics dict (absent keys are None).

    ``forces_rmse_per_species_eV_per_A`` maps each chemical species to the force RMSE of its atoms (eV/A).
    """
    errors = {key: metrics.get(key) for key in TEST_METRIC_KEYS}
    per_species = metrics.get('per_species') or {}
    errors['forces_rmse_per_species_eV_per_A'] = {
        symbol: values.get('forces_rmse_eV_per_A') for symbol, values in per_species.items()
    } or None
    return errors


@calcfunction
def record_iteration(
    accounting: orm.Dict,
    training_dataset: DatasetData,
    training_summary: orm.Dict,
    selection_statistics: orm.Dict,
    test_metrics: orm.Dict | None = None,
    labelling_failures: orm.Dict | None = None,
    labelled: DatasetData | None = None,
    exploration_test: orm.Dict | None = None,
) -> orm.Dict:
    """One row of the iteration table.

    :param accounting: what only the work chain knows: ``iteration``, ``dft_calls`` (this iteration and
        ``dft_calls_total``), ``stages`` (stage -> wall_s, core_hours).
    :param training_dataset: the set the committee of this iteration was trained on.
    :param training_summary: ``TrainingWorkChain``'s ``summary``.
    :param selection_statistics: ``select_candidates``' ``statistics``.
    :param test_metrics: the committee's errors on the held-out test set.
    :param labelling_failures: ``LabellingWorkChain``'s ``failures`` (frames not labelled, and why).
    :param labelled: the new labelled frames of this iteration.
    :param exploration_test: ``assess_exploration_test``'s report on the exploration test set: its errors
        become the ``test_*`` columns (forces eV/A, energies meV/atom), with the calibration.
    """
    row = dict(accounting.get_dict())
    statistics = selection_statistics.get_dict()
    overall = statistics.get('overall', {})
    row.update(
        {
            'training_frames': training_dataset.num_frames,
            'committee_members': training_summary.get('num_finished'),
            'accurate_fraction': overall.get('accurate_fraction'),
            'candidate_fraction': overall.get('candidate_fraction'),
            'failed_fraction': overall.get('failed_fraction'),
            'accurate_fraction_per_condition': {
                name: values['accurate_fraction'] for name, values in statistics.get('per_condition', {}).items()
            },
            'explored_frames': statistics.get('num_frames'),
            'selected': statistics.get('num_selected', 0),
            'labelled': labelled.num_frames if labelled is not None else 0,
            'quarantined': len(labelling_failures.get_dict()) if labelling_failures is not None else 0,
        }
    )
    row.update(test_errors(test_metrics.get_dict() if test_metrics is not None else {}))
    row.update(exploration_test_columns(exploration_test.get_dict() if exploration_test is not None else {}))
    return orm.Dict(row)


def _milli(value: float | None) -> float | None:
    return None if value is None else 1000.0 * value


def exploration_test_columns(report: dict) -> dict:
    """The table's columns for the exploration test set (None where it has no frames yet).

    ``test_frames``, ``test_force_rmse_eV_per_A``, ``test_force_mae_eV_per_A``, ``test_energy_mae_meV_per_atom``,
    ``test_energy_rmse_meV_per_atom``, ``test_stress_rmse_GPa``, the calibration (``deviation_error_spearman``,
    ``false_negative_rate``, ``false_negatives``, ``called_accurate``), ``test_per_condition`` (force RMSE eV/A
    and energy MAE meV/atom per condition) and the fitted lower levels ``fitted_force_trust_lo``.
    """
    per_condition = {
        name: {
            'frames': values.get('num_frames'),
            'force_rmse_eV_per_A': values.get('forces_rmse_eV_per_A'),
            'energy_mae_meV_per_atom': _milli(values.get('energy_mae_eV_per_atom')),
        }
        for name, values in report.get('per_condition', {}).items()
    }
    return {
        'test_frames': report.get('num_frames', 0),
        'test_force_rmse_eV_per_A': report.get('forces_rmse_eV_per_A'),
        'test_force_mae_eV_per_A': report.get('forces_mae_eV_per_A'),
        'test_energy_mae_meV_per_atom': _milli(report.get('energy_mae_eV_per_atom')),
        'test_energy_rmse_meV_per_atom': _milli(report.get('energy_rmse_eV_per_atom')),
        'test_stress_rmse_GPa': report.get('stress_rmse_GPa'),
        'deviation_error_spearman': report.get('deviation_error_spearman'),
        'false_negative_rate': report.get('false_negative_rate'),
        'false_negatives': report.get('false_negatives'),
        'called_accurate': report.get('called_accurate'),
        'test_per_condition': per_condition,
        'fitted_force_trust_lo': report.get('fitted_force_trust_lo'),
    }


@calcfunction
def assemble_report(stop: orm.Dict, **rows: orm.Dict) -> dict:
    """The loop's ``iterations`` table (rows in iteration order) and its ``stop_reason``.

    :param stop: ``reason`` (one of ``aiida_mlipgen.science.convergence``'s reasons) and ``message``.
    :param rows: ``iteration_01``, ``iteration_02``, ...: the rows from :func:`record_iteration`.
    """
    table = [rows[key].get_dict() for key in sorted(rows)]
    return {
        'iterations': orm.Dict({'rows': table, 'stop_reason': stop['reason'], 'stop_message': stop['message']}),
        'stop_reason': orm.Str(stop['reason']),
    }
