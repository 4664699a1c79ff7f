"""What ``mlipgen export`` writes for using a committee elsewhere: a LAMMPS snippet and a model card.

The snippet uses ``pair_style nequip`` or ``allegro`` (pair_nequip / pair_allegro, which need LAMMPS built
against libtorch) with the species map of the models; the model card (JSON and Markdown) records where
the model came from: datasets and their DFT settings fingerprint, committee seeds, code versions and the
benchmark's metrics.
"""

from __future__ import annotations

import json
from pathlib import Path

from aiida import orm
from aiida.common.links import LinkType

from aiida_mlipgen.calculations.lammps_nequip_inputs import pair_section


def find_benchmark(loop: orm.ProcessNode) -> orm.ProcessNode | None:
    """The newest finished ``BenchmarkWorkChain`` of the loop's committee (called by the loop or run alone)."""
    candidates = [node for node in loop.called_descendants if node.process_label == 'BenchmarkWorkChain']
    for model in list(loop.outputs.models.values() if 'models' in loop.outputs else [])[:1]:
        candidates += [
            link.node
            for link in model.base.links.get_outgoing(link_type=LinkType.INPUT_WORK).all()
            if link.node.process_label == 'BenchmarkWorkChain'
        ]
    finished = [node for node in candidates if node.is_finished_ok]
    return max(finished, key=lambda node: node.ctime) if finished else None


def lammps_snippet(
    species: list[str],
    pair_style: str = 'nequip',
    model_file: str = 'model.nequip.pt2',
    package: str = 'model.nequip.zip',
) -> str:
    """LAMMPS input lines that run MD with a compiled model, LAMMPS atom types 1, 2, ... = ``species``."""
    section = pair_section(pair_style, model_file, species)
    target = 'pair_allegro' if pair_style == 'allegro' else 'pair_nequip'
    lines = [
        f'# LAMMPS with pair_{pair_style} (LAMMPS built against libtorch with the nequip/allegro pair styles).',
        *(
            ['# pair_style allegro runs Allegro models (nequip-allegro) only; NequIP models need pair_style nequip.']
            if pair_style == 'allegro'
            else []
        ),
        '# Compile one model of the committee on the machine kind that runs LAMMPS first:',
        f'#   nequip-compile {package} {model_file} --mode aotinductor --device cuda --target {target}',
        '# Species map: LAMMPS atom type -> chemical symbol (= model type name):',
        *(f'#   type {index} -> {symbol}' for index, symbol in enumerate(species, start=1)),
        'units           metal',
        'atom_style      atomic',
        f'newton          {"on" if section.newton_pair else "off"}',
        '# read_data     your.data   (atom types numbered as above)',
        *section.commands,
        *(f'mass            {index} {_mass(symbol)}' for index, symbol in enumerate(species, start=1)),
    ]
    return '\n'.join(lines) + '\n'


def _mass(symbol: str) -> float:
    from ase.data import atomic_masses, atomic_numbers

    return round(float(atomic_masses[atomic_numbers[symbol]]), 4)


def _versions(models: dict) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    import aiida

    versions = {'aiida-core': aiida.__version__}
    for package in ('aiida-mlipgen', 'aiida-quantumespresso', 'nequip', 'torch', 'ase'):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    first = next(iter(models.values()), None)
    if first is not None:
        versions['model nequip'] = first.base.attributes.get('nequip_version')
        versions['model torch'] = first.base.attributes.get('torch_version')
    return versions


def _seed(model) -> int | None:
    config = model.get_config() or {}
    for key in ('seed', 'model_seed'):
        if key in config:
            return config[key]
    return (config.get('training_module', {}).get('model', {}) or {}).get('seed')


def model_card(loop: orm.ProcessNode, benchmark: orm.ProcessNode | None = None) -> dict:
    """The model card of a loop's committee: provenance, DFT settings, seeds, versions, benchmark metrics."""
    models = dict(loop.outputs.models) if 'models' in loop.outputs else {}
    datasets = {}
    for name in ('training_dataset', 'validation_dataset', 'test_dataset'):
        if name in loop.outputs:
            dataset = loop.outputs[name]
            datasets[name] = {
                'uuid': dataset.uuid,
                'pk': dataset.pk,
                'num_frames': dataset.num_frames,
                'sha256': dataset.sha256,
                'species': dataset.species,
            }
    settings = loop.outputs.training_dataset.labelling_settings if 'training_dataset' in loop.outputs else None
    card = {
        'name': f'aiida-mlipgen committee of {loop.process_label}<{loop.pk}>',
        'loop': {
            'uuid': loop.uuid,
            'pk': loop.pk,
            'stop_reason': loop.outputs.stop_reason.value if 'stop_reason' in loop.outputs else None,
        },
        'committee': [
            {
                'key': key,
                'uuid': model.uuid,
                'sha256': model.sha256,
                'species': model.species,
                'cutoff_A': model.cutoff,
                'seed': _seed(model),
            }
            for key, model in sorted(models.items())
        ],
        'datasets': datasets,
        'dft_settings': settings,
        'dft_settings_sha256': (settings or {}).get('sha256'),
        'versions': _versions(models),
        'benchmark': None,
    }
    if benchmark is not None and 'metrics' in benchmark.outputs:
        metrics = benchmark.outputs.metrics.get_dict()
        card['benchmark'] = {
            'uuid': benchmark.uuid,
            'pk': benchmark.pk,
            'passed': metrics['passed'],
            'all_passed': metrics['all_passed'],
            'checks': metrics['checks'],
        }
    return card


def _value_lines(checks: dict) -> list[str]:
    lines = []
    for check, values in sorted(checks.items()):
        items = dict(values.get('checks', {}))
        for run, run_values in values.get('runs', {}).items():
            items.update({f'{run} {name}': item for name, item in run_values.get('checks', {}).items()})
        for name, item in items.items():
            value = item['value']
            shown = f'{value:.4g}' if isinstance(value, float) else str(value)
            verdict = 'pass' if item['passed'] else 'fail'
            lines.append(f'| {check} | {name} | {shown} | {item["target"]} | {verdict} |')
    return lines


def model_card_markdown(card: dict) -> str:
    """The model card as Markdown."""
    lines = [
        f'# {card["name"]}',
        '',
        f'Loop: `{card["loop"]["uuid"]}` (stopped: {card["loop"]["stop_reason"]})',
        '',
        '## Committee',
        '',
        '| member | seed | cutoff (A) | species | sha256 |',
        '|---|---|---|---|---|',
    ]
    lines += [
        f'| {m["key"]} | {m["seed"]} | {m["cutoff_A"]} | {", ".join(m["species"])} | `{m["sha256"][:12]}` |'
        for m in card['committee']
    ]
    lines += ['', '## Data', '', '| set | frames | UUID |', '|---|---|---|']
    lines += [f'| {name} | {d["num_frames"]} | `{d["uuid"]}` |' for name, d in card['datasets'].items()]
    settings = card['dft_settings'] or {}
    lines += [
        '',
        f'DFT settings fingerprint: `{card["dft_settings_sha256"]}`',
        '',
        f'```json\n{json.dumps(settings.get("parameters", {}), indent=1)}\n```',
        '',
        f'k-point distance: {settings.get("kpoints_distance")} 1/A; pseudopotential MD5: {settings.get("pseudos")}',
        '',
        '## Benchmark',
        '',
    ]
    if card['benchmark']:
        lines += [
            f'Benchmark `{card["benchmark"]["uuid"]}`: '
            f'{"all checks passed" if card["benchmark"]["all_passed"] else "some checks failed"}.',
            '',
            '| check | quantity | value | target | verdict |',
            '|---|---|---|---|---|',
            *_value_lines(card['benchmark']['checks']),
        ]
    else:
        lines.append('No benchmark of this committee yet (run `BenchmarkWorkChain`, see docs/benchmark.md).')
    lines += ['', '## Versions', '', *(f'- {name}: {value}' for name, value in card['versions'].items())]
    return '\n'.join(lines) + '\n'


def export_deployment(loop: orm.ProcessNode, directory: str | Path, benchmark=None) -> dict[str, Path]:
    """Write ``lammps/in.nequip``, ``lammps/in.allegro``, ``model_card.json`` and ``model_card.md``."""
    directory = Path(directory)
    (directory / 'lammps').mkdir(parents=True, exist_ok=True)
    benchmark = benchmark or find_benchmark(loop)
    models = dict(loop.outputs.models) if 'models' in loop.outputs else {}
    species = next(iter(models.values())).species if models else []
    paths = {}
    for style in ('nequip', 'allegro'):
        paths[f'lammps_{style}'] = directory / 'lammps' / f'in.{style}'
        package = f'models/{sorted(models)[0]}.nequip.zip' if models else 'model.nequip.zip'
        paths[f'lammps_{style}'].write_text(lammps_snippet(list(species), style, package=package), encoding='utf-8')
    card = model_card(loop, benchmark)
    paths['model_card_json'] = directory / 'model_card.json'
    paths['model_card_json'].write_text(json.dumps(card, indent=2), encoding='utf-8')
    paths['model_card_md'] = directory / 'model_card.md'
    paths['model_card_md'].write_text(model_card_markdown(card), encoding='utf-8')
    return paths
