"""``mlipgen setup``: profile, local computer, codes, pseudopotential family and daemon, idempotently."""

from __future__ import annotations

from collections.abc import Callable

import click

from aiida_mlipgen.setup.profile import DEFAULT_PROFILE_NAME

#: What a step may raise for a problem the user can fix; anything else is a bug and propagates.
USER_ERRORS = (ValueError, FileNotFoundError, RuntimeError)
#: How the statuses of steps that changed nothing begin.
UNCHANGED = ('exists', 'running')


class StepPrinter:
    """Print one ``what: status`` line per step and remember whether anything changed or failed."""

    def __init__(self) -> None:
        self.changed = False
        self.failed = False

    def __call__(self, what: str, step: Callable[[], str]) -> bool:
        """Run ``step`` (which returns its status), print the line; return False if it failed."""
        try:
            status = step()
        except USER_ERRORS as exception:
            self.failed = True
            click.secho(f'{what}: FAILED: {exception}', fg='red', err=True)
            return False
        self.changed |= not status.startswith(UNCHANGED)
        click.echo(f'{what}: {status}')
        return True


@click.command('setup')
@click.option(
    '-p',
    '--profile',
    'profile_name',
    default=DEFAULT_PROFILE_NAME,
    show_default=True,
    help='AiiDA profile to create (SQLite + built-in ZeroMQ broker) or, if it exists, to reuse as it is.',
)
@click.option('--email', default=None, help="Email of a new profile's default user.")
@click.option(
    '--computer',
    'computer_label',
    default='localhost',
    show_default=True,
    help='Label of the local computer (core.local + core.direct) to create or reuse.',
)
@click.option('--daemon/--no-daemon', default=True, show_default=True, help='Start the daemon if it is not running.')
@click.option('--workers', default=2, show_default=True, type=click.IntRange(min=1), help='Daemon workers to start.')
def setup(profile_name: str, email: str | None, computer_label: str, daemon: bool, workers: int) -> None:
    """Set up everything aiida-mlipgen needs on this machine; a second run changes nothing.

    Creates or reuses: the profile, the local computer, the codes pw@COMPUTER and lmp@COMPUTER,
    the pseudopotential family, and starts the daemon. One line per item says what was done.
    """
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    from aiida_mlipgen.setup.codes import LOCAL_CODES, get_or_create_code
    from aiida_mlipgen.setup.computer import get_or_create_localhost
    from aiida_mlipgen.setup.profile import ensure_daemon, get_or_create_profile
    from aiida_mlipgen.setup.pseudo_family import DEFAULT_FAMILY_LABEL, get_or_create_pseudo_family

    step = StepPrinter()
    loaded = {}

    def profile_step() -> str:
        loaded['profile'], status = get_or_create_profile(profile_name, email=email)
        return status

    def computer_step() -> str:
        loaded['computer'], status = get_or_create_localhost(computer_label)
        return status

    def family_step() -> str:
        try:
            orm.load_group(DEFAULT_FAMILY_LABEL)
        except NotExistent:
            get_or_create_pseudo_family(DEFAULT_FAMILY_LABEL)
            return 'created'
        return 'exists'

    if not step(f'profile {profile_name}', profile_step):
        raise SystemExit(1)
    if step(f'computer {computer_label}', computer_step):
        for spec in LOCAL_CODES:
            step(
                f'code {spec.label}@{computer_label}',
                lambda spec=spec: get_or_create_code(
                    spec.label, spec.executable, spec.plugin, loaded['computer'], hint=spec.hint
                )[1],
            )
    step(f'pseudo family {DEFAULT_FAMILY_LABEL}', family_step)
    if daemon:
        step('daemon', lambda: ensure_daemon(loaded['profile'], workers))

    if step.failed:
        click.secho('setup incomplete: fix the FAILED items above and run it again.', fg='red', err=True)
        raise SystemExit(1)
    click.echo('setup complete' if step.changed else 'nothing to do: everything was already set up')
