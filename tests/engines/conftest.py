"""Fixtures of the engine tests (the tiny committee itself is the session plugin ``tests.nequip_committee``)."""

from __future__ import annotations

import pytest

from tests.silicon import si_frames


@pytest.fixture(scope='module', autouse=True)
def one_torch_thread():
    """Tiny models on a shared 2-core machine run faster and steadier on one thread."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope='session')
def make_si_frames():
    """The :func:`si_frames` factory, for tests."""
    return si_frames
