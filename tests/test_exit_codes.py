"""Every process of the package follows the one exit-code scheme (``aiida_mlipgen.science.exit_codes``)."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from aiida_mlipgen.science.exit_codes import INHERITED, SCHEME

REFERENCE = Path(__file__).parents[1] / 'docs' / 'reference.md'


def processes():
    """Every CalcJob and WorkChain registered under ``mlipgen.*`` (calcfunctions have no exit codes of their own)."""
    from aiida.engine import CalcJob, WorkChain

    found = {}
    for group in ('aiida.calculations', 'aiida.workflows'):
        for entry_point in entry_points(group=group):
            if entry_point.name.startswith('mlipgen.'):
                process = entry_point.load()
                if isinstance(process, type) and issubclass(process, (CalcJob, WorkChain)):
                    found[f'{group}:{entry_point.name}'] = process
    return found


def test_the_scheme_itself_has_one_meaning_per_number():
    own = {code.status: label for label, code in SCHEME.items()}
    assert len(own) == len(SCHEME), 'two labels share a number'
    assert not set(own) & set(INHERITED), "a number of aiida-core's is reused"
    assert not set(SCHEME) & set(INHERITED.values()), "a label of aiida-core's is reused"
    for label, code in SCHEME.items():
        assert 200 <= code.status < 500, label
        assert code.status >= 440 or not label.startswith('ERROR_SUB_PROCESS_FAILED_'), label


def test_every_process_uses_the_scheme():
    found = processes()
    assert len(found) >= 12, sorted(found)  # CalcJobs and WorkChains of the package
    numbers: dict[int, set[str]] = {}
    for name, process in found.items():
        for label, exit_code in process.spec().exit_codes.items():
            numbers.setdefault(exit_code.status, set()).add(label)
            if exit_code.status in INHERITED:
                assert label == INHERITED[exit_code.status], (name, label, exit_code)
                continue
            assert label in SCHEME, f'{name}: {label} ({exit_code.status}) is not in the scheme'
            assert exit_code.status == SCHEME[label].status, (name, label, exit_code)
            assert exit_code.invalidates_cache == SCHEME[label].invalidates_cache, (name, label, exit_code)
    assert {status: labels for status, labels in numbers.items() if len(labels) > 1} == {}


def test_the_reference_documents_every_code():
    text = REFERENCE.read_text(encoding='utf-8')
    section = text[text.index('## Exit codes') :]
    rows = dict(re.findall(r'^\| (\d+) \| `([A-Z_]+)` \|', section, flags=re.MULTILINE))
    expected = {str(code.status): label for label, code in SCHEME.items()}
    assert {status: label for status, label in rows.items() if status in expected} == expected
    assert set(rows) - set(expected) <= {str(status) for status in INHERITED}


@pytest.mark.parametrize('label', sorted(SCHEME))
def test_every_code_says_what_to_do(label):
    code = SCHEME[label]
    assert code.meaning and code.action and code.meaning[-1] != '.' and code.action[-1] != '.'
