"""The active-learning loop's table and exported files, for people: used by ``mlipgen status/report/export``."""

from __future__ import annotations

import json
from pathlib import Path

from aiida import orm

#: Columns of the iteration table: (header, row key, format).
COLUMNS = (
    ('iter', 'iteration', '{:d}'),
    ('train', 'training_frames', '{:d}'),
    ('acc', 'accurate_fraction', '{:.2f}'),
    ('cand', 'candidate_fraction', '{:.2f}'),
    ('fail', 'failed_fraction', '{:.2f}'),
    ('sel', 'selected', '{:d}'),
    ('lab', 'labelled', '{:d}'),
    ('quar', 'quarantined', '{:d}'),
    ('fixed E meV/at', 'energy_mae_eV_per_atom', 'milli'),
    ('fixed F RMSE', 'forces_rmse_eV_per_A', '{:.3f}'),
    ('xtest n', 'test_frames', '{:d}'),
    ('xtest E meV/at', 'test_energy_mae_meV_per_atom', '{:.1f}'),
    ('xtest F RMSE', 'test_force_rmse_eV_per_A', '{:.3f}'),
    ('rho', 'deviation_error_spearman', '{:.2f}'),
    ('FN', 'false_negative_rate', '{:.2f}'),
    ('lo eV/A', None, 'lo'),
    ('F RMSE by species', 'forces_rmse_per_species_eV_per_A', 'species'),
    ('S GPa', 'stress_mae_GPa', '{:.2f}'),
    ('DFT', 'dft_calls_total', '{:d}'),
    ('wall s', None, 'wall'),
)


def _cell(row: dict, key: str | None, fmt: str) -> str:
    if fmt == 'wall':
        return f'{sum(stage["wall_s"] for stage in row.get("stages", {}).values()):.0f}'
    if fmt == 'lo':  # the lower force level selection used: the fixed one, or the fitted one per structure
        window = row.get('trust_window', {})
        levels = window.get('force_trust_lo_per_structure') or {}
        if levels:
            return ' '.join(f'{level:.3f}' for _, level in sorted(levels.items()))
        return f'{window["force_trust_lo"]:.3f}' if 'force_trust_lo' in window else '-'
    value = row.get(key)
    if value is None:
        return '-'
    if fmt == 'milli':
        return f'{1000 * value:.1f}'
    if fmt == 'species':
        return ' '.join(f'{symbol} {error:.3f}' for symbol, error in sorted(value.items()) if error is not None)
    return fmt.format(value)


def rows_of(node: orm.WorkflowNode) -> list[dict]:
    """The table rows of a loop: from its ``iterations`` output, or, while it runs, from its recorded rows."""
    if 'iterations' in node.outputs:
        return node.outputs.iterations['rows']
    rows = [
        calc.outputs.result.get_dict()
        for calc in node.called_descendants
        if isinstance(calc, orm.CalcFunctionNode) and calc.process_label == 'record_iteration' and calc.is_finished_ok
    ]
    return sorted(rows, key=lambda row: row['iteration'])


def iteration_table(node: orm.WorkflowNode) -> str:
    """A plain-text table of the loop's iterations, and why it stopped (if it did)."""
    rows = rows_of(node)
    cells = [[header for header, _, _ in COLUMNS]] + [[_cell(row, key, fmt) for _, key, fmt in COLUMNS] for row in rows]
    widths = [max(len(line[column]) for line in cells) for column in range(len(COLUMNS))]
    lines = ['  '.join(text.rjust(width) for text, width in zip(line, widths, strict=True)) for line in cells]
    if 'iterations' in node.outputs:
        table = node.outputs.iterations
        lines.append(f'stopped: {table["stop_reason"]}: {table["stop_message"]}')
    else:
        lines.append(f'state: {node.process_state.value if node.process_state else "unknown"}')
    return '\n'.join(lines)


def write_iterations_json(node: orm.WorkflowNode, path: str | Path) -> Path:
    """The iteration table as JSON: ``rows`` (one per iteration, every column), ``stop_reason``, the loop's UUID.

    The ``test_*`` columns are errors on the exploration test set (frames drawn at random from what the loop
    explored, never trained on); the columns without the prefix are on the fixed held-out test set.
    """
    path = Path(path)
    table = {'loop_uuid': node.uuid, 'rows': rows_of(node)}
    if 'iterations' in node.outputs:
        table.update(
            stop_reason=node.outputs.iterations['stop_reason'], stop_message=node.outputs.iterations['stop_message']
        )
    path.write_text(json.dumps(table, indent=2) + '\n', encoding='utf-8')
    return path


def export_loop(node: orm.WorkflowNode, directory: str | Path) -> dict[str, Path]:
    """Write the report, datasets and committee of a finished loop into ``directory``; return the paths."""
    directory = Path(directory)
    (directory / 'models').mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in ('training_dataset', 'validation_dataset', 'test_dataset', 'exploration_test_dataset'):
        if name in node.outputs:
            paths[name] = node.outputs[name].export(directory / f'{name.removesuffix("_dataset")}.extxyz')
    for member, model in node.outputs.models.items():
        target = directory / 'models' / f'{member}.nequip.zip'
        target.write_bytes(model.base.repository.get_object_content(model.FILENAME, mode='rb'))
    paths['models'] = directory / 'models'
    paths['iterations'] = write_iterations_json(node, directory / 'iterations.json')
    report = [
        f'# Active-learning loop {node.process_label}<{node.pk}> ({node.uuid})',
        '',
        '```',
        iteration_table(node),
        '```',
        '',
        'Provenance: every row is the output of a `record_iteration` calcfunction whose inputs are the',
        "stages' outputs; `verdi node graph generate <pk>` or the AiiDA explorer follow them to the DFT runs",
        'and trainings. Files:',
        *(f'- {name}: `{path}`' for name, path in paths.items()),
    ]
    paths['report'] = directory / 'report.md'
    paths['report'].write_text('\n'.join(report) + '\n', encoding='utf-8')
    return paths
