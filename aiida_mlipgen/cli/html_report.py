"""A static HTML report of an active-learning loop and/or its benchmark: one page, PNG figures beside it.

:func:`write_html_report` gathers the numbers from the provenance graph (the loop's iteration table,
exploration frames, labelled sets; the benchmark's metrics and arrays), draws them with
:mod:`.report_figures` and writes ``report.html`` with every figure under ``figures/``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
from aiida import orm
from aiida.common.links import LinkType

from . import report_figures as figures


def _called(process: orm.ProcessNode, prefix: str = '', process_label: str | None = None) -> list[tuple[str, orm.Node]]:
    """Children of ``process`` whose call link label starts with ``prefix``, in call order."""
    links = process.base.links.get_outgoing(link_type=(LinkType.CALL_WORK, LinkType.CALL_CALC)).all()
    found = [
        (link.link_label, link.node)
        for link in links
        if link.link_label.startswith(prefix) and (process_label is None or link.node.process_label == process_label)
    ]
    return sorted(found, key=lambda item: item[1].ctime)


def _iteration_name(label: str) -> str:
    digits = ''.join(ch for ch in label.rsplit('_', 1)[-1] if ch.isdigit())
    return f'iteration {int(digits)}' if digits else label


def _descriptor_projection(sets: dict[str, list]):
    """Two principal components of the structural descriptors of every labelled frame, and its set name."""
    from aiida_mlipgen.science.descriptors import DescriptorSettings, descriptor_matrix

    frames = [atoms for group in sets.values() for atoms in group]
    if len(frames) < 3:
        return None
    matrix = descriptor_matrix(frames, DescriptorSettings.for_frames(frames))
    centred = matrix - matrix.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    points = centred @ components[:2].T
    groups = [name for name, group in sets.items() for _ in group]
    return points, groups


def _path_to_calculation(dataset: orm.Data, calculation_uuid: str, max_steps: int = 40) -> list[orm.Node]:
    """The data-provenance path from the ``PwCalculation`` with ``calculation_uuid`` to ``dataset``.

    Walks backwards through the calcfunctions that made datasets (and the DFT trajectories they read);
    returns the nodes from the calculation to the dataset, or [] when no such path is found.
    """
    parents: dict[int, orm.Node | None] = {dataset.pk: None}
    queue = [dataset]
    while queue and len(parents) < 20 * max_steps:
        node = queue.pop(0)
        if isinstance(node, orm.CalcJobNode):
            if node.uuid != calculation_uuid:
                continue
            path = [node]
            while parents[path[-1].pk] is not None:
                path.append(parents[path[-1].pk])
            return path
        if isinstance(node, orm.Data):
            previous = [node.creator] if node.creator is not None else []
        else:
            previous = [
                link.node
                for link in node.base.links.get_incoming(link_type=LinkType.INPUT_CALC).all()
                if isinstance(link.node, orm.TrajectoryData) or link.node.node_type.startswith('data.mlipgen.dataset')
            ]
        for item in previous:
            if item.pk not in parents:
                parents[item.pk] = node
                queue.append(item)
    return []


def provenance_figure(loop: orm.ProcessNode, path: Path) -> Path | None:
    """A graph of one iteration drawn with aiida-core's ``Graph``: a training-set frame back to its
    ``PwCalculation``, and the committee back to its trainings."""
    from aiida.tools.visualization import Graph

    if 'training_dataset' not in loop.outputs or 'models' not in loop.outputs:
        return None
    graph = Graph(graph_attr={'rankdir': 'TB'}, node_sublabel_fn=lambda node: '')
    training = loop.outputs.training_dataset
    graph.add_node(training)
    uuids = [atoms.info['pw_calculation_uuid'] for atoms in training.get_atoms() if 'pw_calculation_uuid' in atoms.info]
    chain = _path_to_calculation(training, uuids[-1]) if uuids else []
    if chain:
        graph.add_incoming(chain[0], link_types=('input_calc',), annotate_links='label')
        for first, second in zip(chain, chain[1:], strict=False):
            graph.add_node(second)
            graph.add_edge(first, second)
    for model in loop.outputs.models.values():
        graph.add_node(model)
        training_job = model.creator
        if training_job is None:
            continue
        graph.add_node(training_job)
        graph.add_edge(training_job, model)
        for link in training_job.base.links.get_incoming(link_type=LinkType.INPUT_CALC).all():
            if isinstance(link.node, orm.Data) and link.node.node_type.startswith(('data.mlipgen.', 'data.core.dict')):
                graph.add_node(link.node)
                graph.add_edge(link.node, training_job)
        child = training_job
        for caller in (training_job.caller, getattr(training_job.caller, 'caller', None)):
            if caller is not None:
                graph.add_node(caller)
                graph.add_edge(caller, child)
                child = caller
    graph.graphviz.attr(dpi='80')
    rendered = graph.graphviz.render(filename=str(Path(path).with_suffix('')), format='png', cleanup=True)
    return Path(rendered)


def _figure_block(path: Path | None, directory: Path, caption: str) -> str:
    if path is None:
        return ''
    source = html.escape(str(path.relative_to(directory)))
    caption = html.escape(caption)
    return f'<figure><img src="{source}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'


def _table(rows: list[list], header: list[str]) -> str:
    head = ''.join(f'<th>{html.escape(str(cell))}</th>' for cell in header)
    body = ''.join('<tr>' + ''.join(f'<td>{cell}</td>' for cell in row) + '</tr>' for row in rows)
    return f'<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _verdict(passed) -> str:
    return '<span class="pass">pass</span>' if passed else '<span class="fail">fail</span>'


def _fmt(value) -> str:
    if value is None:
        return '-'
    if isinstance(value, float):
        return f'{value:.4g}'
    return html.escape(str(value))


def _loop_sections(loop: orm.ProcessNode, directory: Path, figure_dir: Path) -> tuple[list[str], list[tuple]]:
    from aiida_mlipgen.cli.reporting import rows_of

    sections, identifiers = [], [('loop', loop)]
    rows = rows_of(loop)
    stop = loop.outputs.iterations.get_dict() if 'iterations' in loop.outputs else {}
    state = loop.process_state.value if loop.process_state else 'unknown'
    reason = f'{stop.get("stop_reason", "-")}: {stop.get("stop_message", "")}' if stop else f'not stopped ({state})'
    sections.append(f'<h2>Active-learning loop</h2><p class="stop"><b>Stop reason</b>: {html.escape(reason)}</p>')
    if rows:
        sections.append(
            _figure_block(
                figures.learning_curves(rows, figure_dir / 'learning_curves.png'),
                directory,
                'Learning curves: errors of each committee on the fixed held-out test set',
            )
        )
        columns = [
            'iteration',
            'training_frames',
            'accurate_fraction',
            'selected',
            'labelled',
            'energy_mae_eV_per_atom',
            'forces_rmse_eV_per_A',
            'stress_mae_GPa',
            'dft_calls_total',
        ]
        sections.append(_table([[_fmt(row.get(key)) for key in columns] for row in rows], columns))
    levels = loop.inputs.trust_levels.get_dict() if 'trust_levels' in loop.inputs else {}
    trust = (levels['force_trust_lo'], levels['force_trust_hi']) if 'force_trust_lo' in levels else None
    deviations = {}
    for label, node in _called(loop, 'explore_iteration_'):
        identifiers.append((label, node))
        if 'frames' in node.outputs:
            deviations[_iteration_name(label)] = np.array(
                [atoms.info.get('max_force_deviation', np.nan) for atoms in node.outputs.frames.get_atoms()],
                dtype=float,
            )
    if deviations:
        sections.append(
            _figure_block(
                figures.deviation_histograms(deviations, trust, figure_dir / 'deviation_histograms.png'),
                directory,
                'Committee max force deviation of the explored frames per iteration; the band is the trust window '
                '(below: accurate, inside: candidates, above: failed)',
            )
        )
    labelled = {}
    for label, node in _called(loop, process_label='LabellingWorkChain'):
        identifiers.append((label, node))
        if 'dataset' in node.outputs:
            name = 'initial set' if 'initial' in label else _iteration_name(label)
            labelled[name] = node.outputs.dataset.get_atoms()
    if labelled:
        energies = {name: [a.get_potential_energy() / len(a) for a in group] for name, group in labelled.items()}
        forces = {
            name: np.concatenate([np.linalg.norm(a.get_forces(), axis=1) for a in group])
            for name, group in labelled.items()
        }
        sections.append(
            _figure_block(
                figures.coverage(energies, forces, _descriptor_projection(labelled), figure_dir / 'coverage.png'),
                directory,
                'Coverage: energies and forces of the frames labelled in each iteration, and the first two principal '
                'components of their structural descriptors',
            )
        )
    stage_seconds = {
        f'it {row["iteration"]}': {stage: values.get('wall_s', 0.0) for stage, values in row.get('stages', {}).items()}
        for row in rows
    }
    dft_calls = {f'it {row["iteration"]}': row.get('dft_calls', 0) or 0 for row in rows}
    if stage_seconds:
        sections.append(
            _figure_block(
                figures.stage_costs(stage_seconds, dft_calls, figure_dir / 'stage_costs.png'),
                directory,
                'Wall time per stage and DFT runs per iteration',
            )
        )
    try:
        graph = provenance_figure(loop, figure_dir / 'provenance.png')
    except Exception as exception:  # graphviz missing or a graph that cannot be drawn: say so, keep the page
        sections.append(f'<p>Provenance graph not drawn: {html.escape(str(exception))}</p>')
    else:
        sections.append(
            _figure_block(
                graph,
                directory,
                'Provenance of one iteration (aiida-core graph tools): '
                'a training-set frame back to its PwCalculation, the committee to its trainings',
            )
        )
    for name in ('training_dataset', 'validation_dataset', 'test_dataset'):
        if name in loop.outputs:
            identifiers.append((name, loop.outputs[name]))
    for key, model in loop.outputs.models.items() if 'models' in loop.outputs else []:
        identifiers.append((f'model {key}', model))
    return sections, identifiers


def _benchmark_sections(benchmark: orm.ProcessNode, directory: Path, figure_dir: Path) -> tuple[list[str], list]:
    sections, identifiers = ['<h2>Benchmark</h2>'], [('benchmark', benchmark)]
    if 'metrics' not in benchmark.outputs:
        state = benchmark.process_state.value if benchmark.process_state else 'unknown'
        return sections + [
            f'<p>No metrics: the benchmark is {html.escape(state)} ({benchmark.exit_message}).</p>'
        ], identifiers
    metrics = benchmark.outputs.metrics.get_dict()
    identifiers.append(('benchmark metrics', benchmark.outputs.metrics))
    rows = []
    for check, values in metrics['checks'].items():
        items = values.get('checks', {})
        for run, run_values in values.get('runs', {}).items():
            for name, item in run_values.get('checks', {}).items():
                items[f'{run} {name}'] = item
        for name, item in items.items():
            rows.append(
                [
                    html.escape(check),
                    html.escape(name),
                    _fmt(item['value']),
                    _fmt(item['target']),
                    _verdict(item['passed']),
                ]
            )
    sections.append(_table(rows, ['check', 'quantity', 'value', 'target', 'verdict']))
    arrays = benchmark.outputs.arrays if 'arrays' in benchmark.outputs else {}
    for name, node in sorted(arrays.items(), key=lambda item: _check_order(item[0])):
        values = metrics['checks'].get(name, {})
        data = {key: node.get_array(key) for key in node.get_arraynames()}
        identifiers.append((f'{name} arrays', node))
        if name.startswith('test_errors_'):
            sections.append(
                _figure_block(
                    figures.parity(data, figure_dir / f'parity_{name}.png'),
                    directory,
                    f'Parity on test set {name.removeprefix("test_errors_")}',
                )
            )
            if np.isfinite(data.get('max_force_deviation', np.array([np.nan]))).all():
                calibration = values.get('calibration', {})
                sections.append(
                    _figure_block(
                        figures.calibration(
                            data['max_force_deviation'],
                            data['max_force_error'],
                            calibration.get('trust_lo_eV_per_A'),
                            calibration.get('spearman'),
                            figure_dir / f'calibration_{name}.png',
                        ),
                        directory,
                        f'Calibration: committee deviation against true error; false negatives '
                        f'{calibration.get("false_negatives")} of {calibration.get("inaccurate_frames")} '
                        'inaccurate frames',
                    )
                )
        elif name.startswith('eos_'):
            sections.append(
                _figure_block(
                    figures.eos(data, values.get('num_atoms', 1), values, figure_dir / f'{name}.png'),
                    directory,
                    f'Equation of state of {name.removeprefix("eos_")}: model and DFT (Birch-Murnaghan fits)',
                )
            )
        elif name.startswith('phonons_'):
            sections.append(
                _figure_block(
                    figures.phonons(data, values.get('special_labels', []), values, figure_dir / f'{name}.png'),
                    directory,
                    f'Phonon bands and DOS of {name.removeprefix("phonons_")}: model and DFT',
                )
            )
        elif name == 'nve':
            runs = {}
            for run, run_values in values.get('runs', {}).items():
                keys = ('times_fs', 'potential_energies_eV', 'kinetic_energies_eV', 'temperatures_K')
                if all(f'{run}__{key}' in data for key in keys):
                    runs[run] = {key: data[f'{run}__{key}'] for key in keys}
                    runs[run]['num_atoms'] = run_values.get('num_atoms') or _nve_atoms(benchmark, run)
            if runs:
                sections.append(
                    _figure_block(
                        figures.nve_traces(runs, figure_dir / 'nve.png'),
                        directory,
                        'NVE runs: total-energy conservation and temperature',
                    )
                )
    sections.append(
        f'<details><summary>All benchmark metrics (JSON)</summary><pre>'
        f'{html.escape(json.dumps(metrics, indent=1))}</pre></details>'
    )
    return sections, identifiers


def _check_order(name: str) -> tuple[int, str]:
    """Show test errors first, then NVE, EOS and phonons."""
    prefixes = ('test_errors_', 'nve', 'eos_', 'phonons_')
    rank = next((index for index, prefix in enumerate(prefixes) if name.startswith(prefix)), len(prefixes))
    return rank, name


def _nve_atoms(benchmark: orm.ProcessNode, run: str) -> int:
    """Atoms of an NVE run, from the engine's summary that the analysis was given."""
    summary = benchmark.outputs.check_metrics['nve'].creator.inputs.nve.get_dict()
    return next(item['num_atoms'] for item in summary['runs'] if item['label'] == run)


STYLE = """body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
figure{margin:1.5em 0}img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.9em;color:#555}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.2em .5em}
.pass{color:#070;font-weight:bold}.fail{color:#b00;font-weight:bold}code{font-size:.85em}"""


def write_html_report(
    directory: str | Path, loop: orm.ProcessNode | None = None, benchmark: orm.ProcessNode | None = None
) -> Path:
    """Write ``report.html`` and its PNG figures (under ``figures/``) into ``directory``; return the page.

    :param loop: an ``ActiveLearningWorkChain`` node (learning curves, deviations, coverage, costs, provenance).
    :param benchmark: a ``BenchmarkWorkChain`` node (checks, parity, calibration, EOS, phonons, NVE).
    """
    if loop is None and benchmark is None:
        raise ValueError('give a loop, a benchmark, or both')
    directory = Path(directory)
    figure_dir = directory / 'figures'
    figure_dir.mkdir(parents=True, exist_ok=True)
    sections, identifiers = [], []
    for node, builder in ((loop, _loop_sections), (benchmark, _benchmark_sections)):
        if node is not None:
            more, ids = builder(node, directory, figure_dir)
            sections += more
            identifiers += ids
    id_rows = [
        [
            html.escape(name),
            html.escape(node.__class__.__name__ if not isinstance(node, orm.ProcessNode) else node.process_label or ''),
            str(node.pk),
            f'<code>{node.uuid}</code>',
        ]
        for name, node in identifiers
    ]
    sections.append(
        '<h2>Where every number comes from</h2><p>Find these nodes with <code>verdi node show PK</code> '
        'or the AiiDA explorer; their provenance leads to every DFT run and training.</p>'
    )
    sections.append(_table(id_rows, ['what', 'type', 'PK', 'UUID']))
    subject = ' and '.join(f'{n.process_label}&lt;{n.pk}&gt;' for n in (loop, benchmark) if n is not None)
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>aiida-mlipgen report</title>'
        f'<style>{STYLE}</style></head><body><h1>aiida-mlipgen report</h1><p>{subject}</p>'
        + '\n'.join(section for section in sections if section)
        + '</body></html>'
    )
    path = directory / 'report.html'
    path.write_text(page, encoding='utf-8')
    return path
