"""Provenance browsing: ``mlipgen restapi`` serves a finished loop, and everything is reached over HTTP.

The server is the real aiida-core REST API in its own process, on a free loopback port, reading the
test profile. The walk uses only what a browser (or the AiiDA explorer) sees: JSON and downloads.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import pytest
import requests
from aiida import orm
from aiida.engine import run_get_node
from ase.build import bulk
from ase.io import read

from aiida_mlipgen.setup.computer import PREPEND_LINES, get_or_create_localhost
from tests.active_learning.conftest import TINY_OVERRIDES
from tests.silicon import ONE_THREAD, venv_tool

MLIPGEN = str(Path(sys.executable).parent / 'mlipgen')
PW_CALCULATION = 'aiida.calculations:quantumespresso.pw'
NEQUIP_TRAIN_CALCULATION = 'aiida.calculations:mlipgen.nequip.train'
#: Full types of our data, as the API keys its download formats.
DATASET_TYPE = 'data.mlipgen.dataset.DatasetData.|'
MODEL_TYPE = 'data.mlipgen.model.ModelData.|'


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


@pytest.fixture(scope='module')
def finished_loop(aiida_profile, tmp_path_factory):
    """A one-iteration loop of the loop tests' tiny settings, on the session's ``localhost``.

    With the same computer, codes and inputs as the first loop of ``tests/active_learning``, its
    jobs come from the cache when those tests ran before in the session, and run for real otherwise.
    """
    from aiida.common.exceptions import NotExistent
    from aiida.manage.caching import enable_caching
    from aiida_quantumespresso.workflows.protocols.utils import recursive_merge

    from aiida_mlipgen.setup.pseudo_family import get_or_create_pseudo_family
    from aiida_mlipgen.workflows.active_learning import ActiveLearningWorkChain

    get_or_create_pseudo_family()
    try:
        computer = orm.load_computer('localhost')
    except NotExistent:
        computer, _ = get_or_create_localhost('localhost', workdir=tmp_path_factory.mktemp('rest-work'))

    def code(label: str, plugin: str, executable: str, prepend_text: str) -> orm.InstalledCode:
        return orm.InstalledCode(
            computer=computer,
            label=label,
            default_calc_job_plugin=plugin,
            filepath_executable=executable,
            prepend_text=prepend_text,
        ).store()

    codes = {
        'pw': code('pw', 'quantumespresso.pw', shutil.which('pw.x'), '\n'.join(PREPEND_LINES)),
        'train': code('nequip-train', 'mlipgen.nequip.train', venv_tool('nequip-train'), ONE_THREAD),
        'explore': code('mlipgen-explore', 'mlipgen.explore', venv_tool('mlipgen-explore'), ONE_THREAD),
        'evaluate': code('mlipgen-evaluate', 'mlipgen.evaluate', venv_tool('mlipgen-evaluate'), ONE_THREAD),
    }
    seeds = {'si2': orm.StructureData(ase=bulk('Si', 'diamond', a=5.43))}
    builder = ActiveLearningWorkChain.get_builder_from_protocol(
        codes, seeds, protocol='fast', overrides=recursive_merge(TINY_OVERRIDES, {'max_iterations': 1})
    )
    with enable_caching():
        _, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    return node


#: The server's log, shown when a request fails.
SERVER_LOG: list[Path] = []


@pytest.fixture(scope='module')
def api(aiida_profile, tmp_path_factory):
    """The base URL of ``mlipgen restapi`` serving the test profile (AIIDA_PATH is the test configuration's)."""
    port = free_port()
    log = tmp_path_factory.mktemp('restapi') / 'server.log'
    SERVER_LOG[:] = [log]
    with open(log, 'w') as handle:
        server = subprocess.Popen(
            [MLIPGEN, 'restapi', '--profile', aiida_profile.name, '--port', str(port)],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    base = f'http://127.0.0.1:{port}/api/v4'
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f'{base}/server/endpoints', timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f'mlipgen restapi did not start:\n{server_log()}')
            time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def server_log() -> str:
    """The end of the server's output."""
    return SERVER_LOG[0].read_text()[-4000:] if SERVER_LOG else ''


def get(url: str, **params) -> dict:
    """GET a JSON endpoint, failing with the server's log."""
    response = requests.get(url, params=params, timeout=30)
    assert response.ok, f'{response.status_code} {url}:\n{server_log()}'
    return response.json()['data']


def links(api: str, uuid: str, direction: str) -> list[dict]:
    """All links of node ``uuid`` in ``direction`` (incoming or outgoing)."""
    return get(f'{api}/nodes/{uuid}/links/{direction}')[direction]


def find_called(api: str, root: str, process_type: str) -> tuple[dict, list[str]]:
    """Breadth-first over CALL links from ``root`` to the first process of ``process_type``; return it and the path."""
    queue = deque([(root, [])])
    while queue:
        uuid, path = queue.popleft()
        for link in links(api, uuid, 'outgoing'):
            if not link['link_type'].startswith('call_'):
                continue
            if link['process_type'] == process_type:
                return link, [*path, link['link_label']]
            if link['node_type'].startswith('process.workflow.'):
                queue.append((link['uuid'], [*path, link['link_label']]))
    raise AssertionError(f'no {process_type} called from {root}')


def test_restapi_walks_a_loop_to_its_dft_runs_and_trainings(api, finished_loop):
    loop = get(f'{api}/nodes/{finished_loop.uuid}')['nodes'][0]
    assert loop['process_type'] == 'aiida.workflows:mlipgen.active_learning'

    pw, pw_path = find_called(api, finished_loop.uuid, PW_CALCULATION)
    assert len(pw_path) >= 3  # loop -> labelling -> PwBaseWorkChain -> pw.x job
    pw_attributes = get(f'{api}/nodes/{pw["uuid"]}/contents/attributes')['attributes']
    assert pw_attributes['exit_status'] == 0
    assert {'retrieved', 'output_parameters'} <= {link['link_label'] for link in links(api, pw['uuid'], 'outgoing')}
    input_files = [entry['name'] for entry in get(f'{api}/calcjobs/{pw["uuid"]}/input_files')]
    assert 'aiida.in' in input_files

    train, _ = find_called(api, finished_loop.uuid, NEQUIP_TRAIN_CALCULATION)
    outputs = {link['link_label']: link for link in links(api, train['uuid'], 'outgoing')}
    model = outputs['model']
    assert model['node_type'] == MODEL_TYPE.rstrip('|')
    model_attributes = get(f'{api}/nodes/{model["uuid"]}/contents/attributes')['attributes']
    assert model_attributes['species'] == ['Si']
    assert model_attributes['cutoff'] == pytest.approx(4.0)

    package = requests.get(f'{api}/nodes/{model["uuid"]}/download', params={'download_format': 'zip'}, timeout=30)
    assert package.ok, package.text[:500]
    assert hashlib.sha256(package.content).hexdigest() == model_attributes['sha256']
    assert 'model.nequip.zip' in package.headers['Content-Disposition']


def test_restapi_downloads_the_training_set_as_extxyz(api, finished_loop):
    outputs = {link['link_label']: link for link in links(api, finished_loop.uuid, 'outgoing')}
    dataset = outputs['training_dataset']
    attributes = get(f'{api}/nodes/{dataset["uuid"]}/contents/attributes')['attributes']
    assert attributes['has_forces'] and attributes['species'] == ['Si']

    response = requests.get(f'{api}/nodes/{dataset["uuid"]}/download', params={'download_format': 'extxyz'}, timeout=30)
    assert response.ok, response.text[:500]
    assert hashlib.sha256(response.content).hexdigest() == attributes['sha256']
    frames = read(io.StringIO(response.text), index=':', format='extxyz')
    assert len(frames) == attributes['num_frames'] > 0
    assert frames[0].get_forces().shape == (len(frames[0]), 3)

    formats = get(f'{api}/nodes/download_formats')
    assert formats[DATASET_TYPE] == ['extxyz']
    assert formats[MODEL_TYPE] == ['zip']


def test_restapi_answers_what_the_aiida_explorer_asks(api, finished_loop):
    """The calls the explorer web app makes (its api.js), from another origin: CORS, query builder, files."""
    origin = {'Origin': 'http://localhost:5173'}
    response = requests.get(f'{api}/nodes/{finished_loop.uuid}', headers=origin, timeout=30)
    assert response.headers['Access-Control-Allow-Origin'] in ('*', origin['Origin'])

    assert get(f'{api}/users/')['users']
    assert 'groups' in get(f'{api}/groups')
    full_types = requests.get(f'{api}/nodes/full_types', timeout=30)
    assert full_types.ok and 'mlipgen' in full_types.text
    for content in ('attributes', 'comments', 'extras', 'derived_properties'):
        assert content in get(f'{api}/nodes/{finished_loop.uuid}/contents/{content}')
    seeds = finished_loop.base.links.get_incoming(node_class=orm.StructureData).all_nodes()
    incoming = links(api, finished_loop.uuid, 'incoming')
    assert {link['uuid'] for link in incoming if link['node_type'] == 'data.core.structure.StructureData.'} == {
        seed.uuid for seed in seeds
    }

    query = {'path': [{'entity_type': 'process.workflow.workchain.WorkChainNode.', 'tag': 'loop'}]}
    query['filters'] = {'loop': {'uuid': {'==': finished_loop.uuid}}}
    query['project'] = {'loop': ['uuid', 'attributes.process_label']}
    posted = requests.post(f'{api}/querybuilder/', json=query, timeout=30)
    assert posted.ok, posted.text[:500]
    assert posted.json()['data']['loop'][0]['attributes.process_label'] == 'ActiveLearningWorkChain'

    pw, _ = find_called(api, finished_loop.uuid, PW_CALCULATION)
    retrieved = next(link for link in links(api, pw['uuid'], 'outgoing') if link['link_label'] == 'retrieved')
    names = [entry['name'] for entry in get(f'{api}/nodes/{retrieved["uuid"]}/repo/list')['repo_list']]
    assert 'aiida.out' in names
    text = requests.get(
        f'{api}/nodes/{retrieved["uuid"]}/repo/contents', params={'filename': '"aiida.out"'}, timeout=30
    ).text
    assert 'PWSCF' in text
