"""A committee benchmark, its HTML report in Debian's headless chromium (every image loads), and the exports."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import run_get_node
from ase.build import bulk

from aiida_mlipgen.cli.deployment import export_deployment, lammps_snippet
from aiida_mlipgen.cli.html_report import write_html_report
from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.workflows.benchmark import BenchmarkWorkChain
from tests.conftest import require_executable
from tests.silicon import si_frames

#: Appended to a copy of the page: after load, it lists every image that did not decode.
IMAGE_CHECK = """<script>window.addEventListener('load', () => {
  const broken = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);
  const pre = document.createElement('pre'); pre.id = 'image-check';
  pre.textContent = JSON.stringify({images: document.images.length, broken: broken});
  document.body.appendChild(pre);
});</script>"""


def _returned(process, label: str, node: orm.Data) -> None:
    node.store()
    node.base.links.add_incoming(process, LinkType.RETURN, label)


def stand_in_loop(tiny_models: dict) -> orm.WorkChainNode:
    """A finished loop node as the report reads it: iteration table, explored and labelled frames, committee."""
    loop = orm.WorkChainNode(process_type='aiida.workflows:mlipgen.active_learning')
    loop.set_process_label('ActiveLearningWorkChain')
    loop.base.links.add_incoming(
        orm.Dict({'force_trust_lo': 0.08, 'force_trust_hi': 0.4}).store(), LinkType.INPUT_WORK, 'trust_levels'
    )
    loop.store()
    rows = [
        {
            'iteration': i,
            'training_frames': 10 + 6 * i,
            'accurate_fraction': 0.5 + 0.2 * i,
            'selected': 6,
            'labelled': 6,
            'energy_mae_eV_per_atom': 0.02 / i,
            'forces_rmse_eV_per_A': 0.3 / i,
            'stress_mae_GPa': 1.0 / i,
            'dft_calls': 6,
            'dft_calls_total': 10 + 6 * i,
            'stages': {'train': {'wall_s': 90.0}, 'explore': {'wall_s': 30.0}, 'label': {'wall_s': 60.0}},
        }
        for i in (1, 2)
    ]
    _returned(
        loop,
        'iterations',
        orm.Dict({'rows': rows, 'stop_reason': 'max_iterations_reached', 'stop_message': 'reached 2 iterations'}),
    )
    _returned(loop, 'stop_reason', orm.Str('max_iterations_reached'))
    rng = np.random.default_rng(0)
    for index, label in enumerate(('label_initial_set', 'label_iteration_01', 'label_iteration_02')):
        child = orm.WorkChainNode(process_type='aiida.workflows:mlipgen.label')
        child.set_process_label('LabellingWorkChain')
        child.base.links.add_incoming(loop, LinkType.CALL_WORK, label)
        child.store()
        _returned(child, 'dataset', DatasetData(si_frames(4, seed=index)))
        if index:
            explore = orm.WorkChainNode(process_type='aiida.workflows:mlipgen.explore')
            explore.set_process_label('ExplorationWorkChain')
            explore.base.links.add_incoming(loop, LinkType.CALL_WORK, f'explore_iteration_{index:02d}')
            explore.store()
            frames = si_frames(30, seed=10 + index, label=False)
            for atoms in frames:
                atoms.info['max_force_deviation'] = float(rng.gamma(2.0, 0.1 / index))
            _returned(explore, 'frames', DatasetData(frames))
    _returned(loop, 'training_dataset', DatasetData(si_frames(6, seed=1)))
    _returned(loop, 'test_dataset', DatasetData(si_frames(4, seed=2)))
    for key, model in tiny_models.items():
        model.base.links.add_incoming(loop, LinkType.RETURN, f'models__{key}')
    return loop


def check_in_chromium(page, tmp_path) -> dict:
    """Render ``page`` in headless chromium; return the image check and write a screenshot."""
    chromium = require_executable('chromium')
    checked = page.with_name('check.html')
    checked.write_text(page.read_text().replace('</body>', IMAGE_CHECK + '</body>'))
    common = [
        chromium,
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--allow-file-access-from-files',
        '--virtual-time-budget=10000',
        f'--user-data-dir={tmp_path / "chromium-profile"}',
    ]
    dom = subprocess.run([*common, '--dump-dom', checked.as_uri()], capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="image-check">(.*?)</pre>', dom.stdout)
    assert match, f'chromium rendered no result: {dom.stderr[-2000:]}'
    subprocess.run(
        [*common, '--window-size=1280,4000', f'--screenshot={tmp_path / "page.png"}', page.as_uri()],
        capture_output=True,
        timeout=120,
    )
    return json.loads(match.group(1).replace('&quot;', '"'))


@pytest.mark.slow
def test_report_renders_in_chromium_with_every_image(benchmark_code, committee_models, tmp_path):
    builder = BenchmarkWorkChain.get_builder_from_protocol(
        {'benchmark': benchmark_code},
        models=committee_models,
        test_datasets={'held_out': DatasetData(si_frames(6, seed=4)).store()},
        reference_structures={'si2': orm.StructureData(ase=bulk('Si', 'diamond', a=5.43))},
        protocol='fast',
        overrides={'nve': {'temperatures_K': [300], 'steps': 40, 'interval': 5, 'frame_interval': 10}},
    )
    assert 'eos' not in builder and 'phonons' not in builder  # no pw code: no DFT references
    results, benchmark = run_get_node(builder)
    assert benchmark.is_finished_ok, benchmark.exit_message
    errors = results['check_metrics']['test_errors_held_out'].get_dict()
    assert errors['overall']['forces']['rmse'] > 0 and 'Si' in errors['per_species']
    assert set(errors['calibration']) >= {'spearman', 'false_negative_rate'}
    parity = results['arrays']['test_errors_held_out']
    assert parity.get_array('forces_predicted').shape == (3 * (3 * 8 + 3 * 16),)  # 3 Si8 and 3 Si16 frames
    assert results['arrays']['nve'].get_array('si2_300K__times_fs')[-1] == 40.0
    loop = stand_in_loop(committee_models)

    page = write_html_report(tmp_path / 'report', loop=loop, benchmark=benchmark)
    text = page.read_text()
    for needle in (
        'Stop reason',
        'max_iterations_reached',
        'Learning curves',
        'trust window',
        'Calibration',
        'Parity',
        'NVE',
        benchmark.uuid,
        loop.uuid,
    ):
        assert needle in text, needle
    images = re.findall(r'<img src="([^"]+)"', text)
    assert {
        'figures/learning_curves.png',
        'figures/deviation_histograms.png',
        'figures/coverage.png',
        'figures/stage_costs.png',
        'figures/parity_test_errors_held_out.png',
        'figures/nve.png',
        'figures/calibration_test_errors_held_out.png',
    } <= set(images)
    result = check_in_chromium(page, tmp_path)
    assert result['images'] == len(images) and result['broken'] == []

    paths = export_deployment(loop, tmp_path / 'export', benchmark=benchmark)
    card = json.loads(paths['model_card_json'].read_text())
    assert [member['key'] for member in card['committee']] == sorted(committee_models)
    assert card['benchmark']['uuid'] == benchmark.uuid and card['versions']['aiida-core']
    assert 'test_errors_held_out' in paths['model_card_md'].read_text()
    assert 'pair_coeff      * * model.nequip.pt2 Si' in paths['lammps_nequip'].read_text()


def test_lammps_snippet_maps_types_to_species():
    snippet = lammps_snippet(['O', 'Si'], 'allegro')
    assert 'newton          on' in snippet and 'pair_style      allegro' in snippet
    assert 'pair_coeff      * * model.nequip.pt2 O Si' in snippet
    assert '#   type 2 -> Si' in snippet and 'mass            1 15.999' in snippet
