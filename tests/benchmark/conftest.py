"""Fixtures of the benchmark tests: the real ``mlipgen-benchmark`` code (the tiny committee is a session plugin)."""

from __future__ import annotations

import pytest

from tests.silicon import ONE_THREAD, venv_tool


@pytest.fixture
def benchmark_code(aiida_code_installed):
    """The real ``mlipgen-benchmark`` as an InstalledCode of the test localhost (one thread)."""
    return aiida_code_installed(
        label='mlipgen-benchmark',
        default_calc_job_plugin='mlipgen.benchmark.model',
        filepath_executable=venv_tool('mlipgen-benchmark'),
        prepend_text=ONE_THREAD,
    )


@pytest.fixture
def committee_models(aiida_profile, tiny_committee):
    """The session's tiny committee as stored ``ModelData`` nodes, keyed ``member1``, ``member2``."""
    from aiida_mlipgen.data.model import ModelData

    return {
        f'member{index}': ModelData(path, cutoff=4.0, species=['Si']).store()
        for index, path in enumerate(tiny_committee.packages, start=1)
    }
