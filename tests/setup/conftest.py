"""Fixtures of the set-up tests."""

from __future__ import annotations

import secrets

import pytest
from aiida import orm


def unique_label(prefix: str) -> str:
    """A computer label no other test uses (the test profile is shared by the whole session)."""
    return f'{prefix}-{secrets.token_hex(4)}'


@pytest.fixture
def computer_label() -> str:
    """A computer label of this test alone."""
    return unique_label('computer')


@pytest.fixture
def remote_computer(aiida_profile, tmp_path):
    """A stored SLURM-over-SSH computer, never connected to, under a unique label."""
    return orm.Computer(
        label=unique_label('remote'),
        hostname='example.org',
        transport_type='core.ssh',
        scheduler_type='core.slurm',
        workdir=str(tmp_path),
    ).store()
