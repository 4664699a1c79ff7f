"""Installed codes on the local computer: one function creates any of them, one table lists them."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from aiida import orm
from aiida.common.exceptions import ValidationError


@dataclass(frozen=True)
class CodeSpec:
    """What ``mlipgen setup`` installs as ``label@<computer>``.

    :param hint: how to install the executable, shown when it is missing.
    """

    label: str
    executable: str
    plugin: str
    hint: str = ''


def venv_executable(name: str) -> str:
    """Return the absolute path of console script ``name`` in the running Python environment."""
    return str(Path(sys.executable).parent / name)


#: The codes ``mlipgen setup`` installs on the local computer. Add a stage's code with one line here.
LOCAL_CODES = (
    CodeSpec('pw', '/usr/bin/pw.x', 'quantumespresso.pw', hint='apt-get install quantum-espresso'),
    CodeSpec('lmp', '/usr/bin/lmp', 'lammps.base', hint='apt-get install lammps'),
    CodeSpec('nequip-train', venv_executable('nequip-train'), 'mlipgen.nequip.train', hint='pip install nequip'),
    CodeSpec('mlipgen-explore', venv_executable('mlipgen-explore'), 'mlipgen.explore', hint='pip install -e .'),
    CodeSpec('mlipgen-evaluate', venv_executable('mlipgen-evaluate'), 'mlipgen.evaluate', hint='pip install -e .'),
    CodeSpec(
        'mlipgen-benchmark', venv_executable('mlipgen-benchmark'), 'mlipgen.benchmark.model', hint='pip install -e .'
    ),
    CodeSpec(
        'mlipgen-teacher-label',
        venv_executable('mlipgen-teacher-label'),
        'mlipgen.teacher_label',
        hint='pip install -e .',
    ),
)


def find_code(label: str, computer: orm.Computer) -> orm.InstalledCode | None:
    """Return the installed code ``label@computer``, or None."""
    query = orm.QueryBuilder()
    query.append(orm.Computer, filters={'id': computer.pk}, tag='computer')
    query.append(orm.InstalledCode, with_computer='computer', filters={'label': label})
    return query.first(flat=True)


def get_or_create_code(
    label: str, executable: str | Path, plugin: str, computer: orm.Computer, hint: str = ''
) -> tuple[orm.InstalledCode, str]:
    """Return the code ``label@computer`` running ``executable`` with ``plugin``, and ``created`` or ``exists``.

    An existing code with the same label and plugin is kept even if its executable differs (a user's
    own build): the status then names that executable.

    :param hint: how to install the executable, added to the error if it is missing.
    :raises FileNotFoundError: if a new code's executable is not an executable file on ``computer``.
    :raises ValueError: if ``label@computer`` exists with another default plugin.
    """
    existing = find_code(label, computer)
    if existing is not None:
        if existing.default_calc_job_plugin != plugin:
            raise ValueError(
                f'code {existing.full_label} exists with plugin {existing.default_calc_job_plugin}, not {plugin}: '
                f'relabel it (verdi code relabel {existing.pk} NEW_LABEL) and run the setup again.'
            )
        if str(existing.filepath_executable) != str(executable):
            return existing, f'exists (runs {existing.filepath_executable})'
        return existing, 'exists'

    code = orm.InstalledCode(
        computer=computer,
        filepath_executable=str(executable),
        label=label,
        default_calc_job_plugin=plugin,
        description=f'{Path(executable).name} for {plugin}, set up by `mlipgen setup`',
    )
    try:
        code.validate_filepath_executable()
    except ValidationError as exception:
        advice = f' ({hint})' if hint else ''
        raise FileNotFoundError(f'{label}@{computer.label}: {exception}{advice}') from exception
    code.store()
    return code, 'created'
