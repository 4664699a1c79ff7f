"""``mlipgen setup``: profile, local computer, codes, pseudopotential family and daemon, idempotently."""

from __future__ import annotations

from collections.abc import Callable

import click

from aiida_mlipgen.setup.profile import DEFAULT_PROFILE_NAME

#: What a step may raise for a problem the user can fix; anything else is a bug and propagates.
USER_ERRORS = (ValueError, FileNotFoundError, RuntimeError)
#: How the statuses of steps that changed nothing begin.
UNCHANGED = ('exists', 'running')
#: Daemon workers of an embedded profile and of a production one (PostgreSQL + RabbitMQ serve several well).
DEFAULT_WORKERS = 2
PRODUCTION_WORKERS = 4


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
    help='AiiDA profile to create (SQLite + built-in ZeroMQ broker; PostgreSQL + RabbitMQ with --production) '
    'or, if it exists, to reuse as it is.',
)
@click.option(
    '--production',
    is_flag=True,
    help='Create (or reuse) the profile on PostgreSQL + RabbitMQ, never on SQLite; fails if a service is missing.',
)
@click.option('--db-host', default='127.0.0.1', show_default=True, help='PostgreSQL host (--production).')
@click.option('--db-port', default=5432, show_default=True, type=int, help='PostgreSQL port (--production).')
@click.option(
    '--db-admin', default='postgres', show_default=True, help='PostgreSQL role that creates the user and database.'
)
@click.option('--db-name', default=None, help='Database to create (default: aiida_PROFILE).')
@click.option('--db-user', default=None, help='PostgreSQL user to create (default: the database name).')
@click.option('--broker-host', default='127.0.0.1', show_default=True, help='RabbitMQ host (--production).')
@click.option('--broker-port', default=5672, show_default=True, type=int, help='RabbitMQ port (--production).')
@click.option('--broker-user', default='guest', show_default=True, help='RabbitMQ user (--production).')
@click.option('--broker-password', default='guest', show_default=True, help='RabbitMQ password (--production).')
@click.option('--broker-vhost', default='', help='RabbitMQ virtual host (--production; default: /).')
@click.option('--email', default=None, help="Email of a new profile's default user.")
@click.option(
    '--computer',
    'computer_label',
    default='localhost',
    show_default=True,
    help='Label of the local computer (core.local + core.direct) to create or reuse.',
)
@click.option('--daemon/--no-daemon', default=True, show_default=True, help='Start the daemon if it is not running.')
@click.option(
    '--workers',
    default=None,
    type=click.IntRange(min=1),
    help=f'Daemon workers to start [default: {DEFAULT_WORKERS}, {PRODUCTION_WORKERS} with --production].',
)
def setup(
    profile_name: str,
    production: bool,
    db_host: str,
    db_port: int,
    db_admin: str,
    db_name: str | None,
    db_user: str | None,
    broker_host: str,
    broker_port: int,
    broker_user: str,
    broker_password: str,
    broker_vhost: str,
    email: str | None,
    computer_label: str,
    daemon: bool,
    workers: int | None,
) -> None:
    """Set up everything aiida-mlipgen needs on this machine; a second run changes nothing.

    Creates or reuses: the profile, the local computer, the codes pw@COMPUTER and lmp@COMPUTER,
    the pseudopotential family, and starts the daemon. One line per item says what was done,
    and two lines say which storage and broker the profile uses.
    """
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    from aiida_mlipgen.setup import production as prod
    from aiida_mlipgen.setup.codes import LOCAL_CODES, get_or_create_code
    from aiida_mlipgen.setup.computer import get_or_create_localhost
    from aiida_mlipgen.setup.profile import ensure_daemon, get_or_create_profile
    from aiida_mlipgen.setup.pseudo_family import DEFAULT_FAMILY_LABEL, get_or_create_pseudo_family

    step = StepPrinter()
    loaded = {}
    if workers is None:
        workers = PRODUCTION_WORKERS if production else DEFAULT_WORKERS

    def profile_step() -> str:
        if production:
            loaded['profile'], status = prod.get_or_create_production_profile(
                profile_name,
                prod.PostgresServer(host=db_host, port=db_port, admin_user=db_admin),
                prod.RabbitmqServer(
                    host=broker_host,
                    port=broker_port,
                    username=broker_user,
                    password=broker_password,
                    virtual_host=broker_vhost,
                ),
                database=db_name,
                database_user=db_user,
                email=email,
            )
        else:
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
    click.echo(f'storage: {prod.describe_storage(loaded["profile"])}')
    click.echo(f'broker: {prod.describe_broker(loaded["profile"])}')
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
