"""Input checks that every work chain shares: structures to start runs from, and the codes to run them with."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aiida import orm

from aiida_mlipgen.science.structure_checks import structure_problem


def check_structures(structures: Mapping[str, orm.StructureData] | None, port: str) -> str | None:
    """Refuse structures without atoms or a cell, or with overlapping atoms; the message names port and key."""
    for key, structure in sorted((structures or {}).items()):
        message = structure_problem(key, structure.get_ase())
        if message:
            return f'`{port}`: {message}'
    return None


def _codes(inputs: Mapping, path: str = '') -> list[tuple[str, orm.AbstractCode]]:
    found = []
    for key, value in inputs.items():
        if isinstance(value, orm.AbstractCode):
            found.append((f'{path}{key}', value))
        elif isinstance(value, Mapping):
            found.extend(_codes(value, f'{path}{key}.'))
    return found


def check_codes(inputs: Mapping) -> str | None:
    """Refuse an installed code on a local computer whose executable is not there: every job would fail.

    Codes on remote computers (that needs a connection) and containerized codes are not checked here.
    """
    for port, code in _codes(inputs):
        if (
            not isinstance(code, orm.InstalledCode)
            or isinstance(code, orm.ContainerizedCode)  # its executable lies inside the container
            or code.computer.transport_type != 'core.local'
        ):
            continue
        executable = Path(str(code.filepath_executable))
        if executable.is_absolute() and not executable.is_file():
            return (
                f'`{port}`: code `{code.full_label}` runs `{executable}`, which does not exist on '
                f'`{code.computer.label}`; see `verdi code list` and docs/cluster_setup.md.'
            )
    return None
