"""The ``localhost`` computer that runs pw.x, lmp and the training codes on this machine.

Jobs go through the ``core.direct`` scheduler with ``mpirun``. The prepend text lets OpenMPI run
as root (it refuses otherwise: exit 305 in AiiDA) and is harmless for an ordinary user; one OpenMP
thread per MPI rank keeps several small jobs from oversubscribing the cores.
"""

from __future__ import annotations

from pathlib import Path

from aiida import orm
from aiida.common.exceptions import NotExistent
from aiida.manage import get_config, get_profile

#: Label of the computer that ``mlipgen setup`` installs.
LOCALHOST_LABEL = 'localhost'
#: Lines every job script on the local computer starts with (order kept).
PREPEND_LINES = (
    'export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1',
    'export OMP_NUM_THREADS=1',
)
MPIRUN_COMMAND = ('mpirun', '-np', '{tot_num_mpiprocs}')
TRANSPORT = 'core.local'
SCHEDULER = 'core.direct'
#: Minimum time between two scheduler polls, in seconds (AiiDA's default of 10 s slows small jobs).
POLL_INTERVAL_S = 1.0


def default_workdir() -> Path:
    """Return ``<AiiDA config folder>/scratch/<profile>``, the work directory ``verdi presto`` also uses."""
    return Path(get_config().dirpath) / 'scratch' / get_profile().name


def missing_prepend_lines(prepend_text: str) -> list[str]:
    """Return the lines of :data:`PREPEND_LINES` that ``prepend_text`` lacks."""
    present = {line.strip() for line in prepend_text.splitlines()}
    return [line for line in PREPEND_LINES if line not in present]


def get_or_create_localhost(
    label: str = LOCALHOST_LABEL, workdir: str | Path | None = None
) -> tuple[orm.Computer, str]:
    """Return the local computer ``label`` and what was done: ``created``, ``exists`` or ``updated (...)``.

    An existing computer (for instance the one ``verdi presto`` makes) is reused when it is a
    ``core.local``/``core.direct`` computer; lines of :data:`PREPEND_LINES` it lacks are appended to
    its prepend text, everything else of it is kept.

    :param workdir: work directory for a new computer (default: :func:`default_workdir`).
    :raises ValueError: if ``label`` exists with another transport or scheduler.
    """
    try:
        computer = orm.Computer.collection.get(label=label)
    except NotExistent:
        computer = orm.Computer(
            label=label,
            hostname='localhost',
            description='This machine, set up by `mlipgen setup`',
            transport_type=TRANSPORT,
            scheduler_type=SCHEDULER,
            workdir=str(workdir or default_workdir()),
        )
        computer.set_prepend_text('\n'.join(PREPEND_LINES))
        computer.set_mpirun_command(list(MPIRUN_COMMAND))
        computer.set_default_mpiprocs_per_machine(1)
        computer.store()
        computer.set_minimum_job_poll_interval(POLL_INTERVAL_S)
        computer.configure(safe_interval=0)
        return computer, 'created'

    if (computer.transport_type, computer.scheduler_type) != (TRANSPORT, SCHEDULER):
        raise ValueError(
            f'computer {label} exists with transport {computer.transport_type} and scheduler '
            f'{computer.scheduler_type}, not {TRANSPORT}/{SCHEDULER}: choose another label (--computer NAME).'
        )
    changes = []
    missing = missing_prepend_lines(computer.get_prepend_text())
    if missing:
        computer.set_prepend_text('\n'.join([computer.get_prepend_text().rstrip(), *missing]).lstrip())
        changes.append('prepend_text')
    if not computer.is_user_configured(orm.User.collection.get_default()):
        computer.configure(safe_interval=0)
        changes.append('configured for this user')
    return computer, f'updated ({", ".join(changes)})' if changes else 'exists'
