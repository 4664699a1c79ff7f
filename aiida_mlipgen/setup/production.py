"""A production profile: PostgreSQL storage (``core.psql_dos``) and RabbitMQ broker (``core.rabbitmq``).

The database is created the way the running server can accept it: with the server's own collation
and character type (read from ``template1``, often ``C.UTF-8`` on containers), not ``en_US.UTF-8``,
which ``verdi presto --use-postgres`` asks for and which many servers do not have. Nothing falls back
to SQLite or to the built-in broker: a missing service is an error that says what is missing.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from aiida.manage.configuration import Profile, create_profile, get_config, get_config_option, load_profile

STORAGE_BACKEND = 'core.psql_dos'
BROKER_BACKEND = 'core.rabbitmq'
#: Engine poll interval of the profile, in seconds (as the embedded profile).
RUNNER_POLL_INTERVAL_S = 1
#: What PostgreSQL accepts unquoted as a role or database name (we quote anyway; this keeps names tame).
_SAFE_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_-]{0,62}$')


@dataclass(frozen=True)
class PostgresServer:
    """Where the PostgreSQL server is and the administrator role that may create roles and databases."""

    host: str = '127.0.0.1'
    port: int = 5432
    admin_user: str = 'postgres'
    admin_password: str = ''

    def connect(self, database: str = 'postgres'):
        """An autocommit connection as the administrator.

        :raises RuntimeError: in one line, if the server cannot be reached or refuses the administrator.
        """
        import psycopg

        try:
            return psycopg.connect(
                host=self.host,
                port=self.port,
                user=self.admin_user,
                password=self.admin_password or None,
                dbname=database,
                autocommit=True,
                connect_timeout=10,
            )
        except psycopg.OperationalError as exception:
            reason = ' '.join(str(exception).split())
            raise RuntimeError(
                f'PostgreSQL is not reachable at {self.host}:{self.port} as `{self.admin_user}`: {reason} '
                '(start it, or pass --db-host/--db-port/--db-admin)'
            ) from exception


@dataclass(frozen=True)
class RabbitmqServer:
    """Where RabbitMQ listens and how AiiDA logs in."""

    host: str = '127.0.0.1'
    port: int = 5672
    username: str = 'guest'
    password: str = 'guest'
    virtual_host: str = ''

    def detect(self) -> dict:
        """The profile's ``broker_*`` settings after a successful connection.

        :raises RuntimeError: in one line, if RabbitMQ cannot be reached with these settings.
        """
        from aiida.brokers.rabbitmq.defaults import detect_rabbitmq_config

        try:
            return detect_rabbitmq_config(
                protocol='amqp',
                username=self.username,
                password=self.password,
                host=self.host,
                port=self.port,
                virtual_host=self.virtual_host,
            )
        except ConnectionError as exception:
            cause = exception.__cause__ or exception
            raise RuntimeError(
                f'RabbitMQ is not reachable at {self.host}:{self.port} (vhost `{self.virtual_host or "/"}`, user '
                f'`{self.username}`): {type(cause).__name__}: {cause} (start it, or pass --broker-host/--broker-port)'
            ) from exception


def check_name(name: str, what: str) -> str:
    """Return ``name`` if it is a tame PostgreSQL identifier.

    :raises ValueError: otherwise.
    """
    if not _SAFE_NAME.match(name):
        raise ValueError(f'{what} `{name}` must be letters, digits, `_` or `-` (at most 63), starting with a letter')
    return name


def server_locale(server: PostgresServer) -> tuple[str, str]:
    """The (collation, character type) of the server's ``template1``: a locale the server is known to have."""
    with server.connect() as connection:
        row = connection.execute("SELECT datcollate, datctype FROM pg_database WHERE datname = 'template1'").fetchone()
    return row[0], row[1]


def ensure_database(server: PostgresServer, database: str, user: str, password: str) -> str:
    """Create role ``user`` and database ``database`` (UTF-8, the server's locale) unless they exist.

    Returns ``created``, ``exists`` or ``created database (role existed)``. An existing role gets ``password``.

    :raises RuntimeError: in one line, if the server refuses (no such locale, no right to create, ...).
    """
    import psycopg
    from psycopg import sql

    check_name(database, 'database name')
    check_name(user, 'database user')
    collate, ctype = server_locale(server)
    with server.connect() as connection:
        role_exists = connection.execute('SELECT 1 FROM pg_roles WHERE rolname = %s', (user,)).fetchone() is not None
        database_exists = (
            connection.execute('SELECT 1 FROM pg_database WHERE datname = %s', (database,)).fetchone() is not None
        )
        try:
            # Literal passwords cannot be bound parameters in DDL: quote them as literals.
            password_literal = sql.Literal(password)
            if role_exists:
                connection.execute(
                    sql.SQL('ALTER ROLE {} WITH LOGIN PASSWORD {}').format(sql.Identifier(user), password_literal)
                )
            else:
                connection.execute(
                    sql.SQL('CREATE ROLE {} WITH LOGIN PASSWORD {}').format(sql.Identifier(user), password_literal)
                )
            if database_exists:
                return 'exists'
            connection.execute(
                sql.SQL('CREATE DATABASE {} OWNER {} ENCODING {} LC_COLLATE {} LC_CTYPE {} TEMPLATE template0').format(
                    sql.Identifier(database),
                    sql.Identifier(user),
                    sql.Literal('UTF8'),
                    sql.Literal(collate),
                    sql.Literal(ctype),
                )
            )
        except psycopg.Error as exception:
            reason = ' '.join(str(exception).split())
            raise RuntimeError(f'PostgreSQL refused to create `{database}` for `{user}`: {reason}') from exception
    return 'created database (role existed)' if role_exists else f'created (collation {collate})'


def drop_database(server: PostgresServer, database: str, user: str) -> None:
    """Drop database ``database`` and role ``user`` if they exist (disconnecting its sessions)."""
    from psycopg import sql

    check_name(database, 'database name')
    check_name(user, 'database user')
    with server.connect() as connection:
        connection.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(database)))
        connection.execute(sql.SQL('DROP ROLE IF EXISTS {}').format(sql.Identifier(user)))


def default_database_name(profile_name: str) -> str:
    """``aiida_<profile>``, with characters PostgreSQL names should not have replaced by ``_``."""
    return check_name(re.sub(r'[^A-Za-z0-9_-]', '_', f'aiida_{profile_name}')[:63], 'database name')


def get_or_create_production_profile(
    name: str,
    postgres: PostgresServer,
    rabbitmq: RabbitmqServer,
    database: str | None = None,
    database_user: str | None = None,
    email: str | None = None,
) -> tuple[Profile, str]:
    """Load profile ``name`` if it is a production one, else create it on PostgreSQL + RabbitMQ.

    Both services are checked before anything is created, so a missing one leaves no half-made profile.

    :raises RuntimeError: if ``name`` exists on other storage or broker (it is never reused as a production
        profile), or a service is missing.
    """
    config = get_config(create=True)
    if name in config.profile_names:
        profile = config.get_profile(name)
        if (profile.storage_backend, profile.process_control_backend) != (STORAGE_BACKEND, BROKER_BACKEND):
            raise RuntimeError(
                f'profile `{name}` exists on {describe_storage(profile)} with broker {describe_broker(profile)}, '
                f'not PostgreSQL + RabbitMQ: choose another name for the production profile'
            )
        return load_profile(name, allow_switch=True), 'exists'

    broker_config = rabbitmq.detect()
    database = database or default_database_name(name)
    database_user = database_user or database
    password = secrets.token_hex(16)
    database_status = ensure_database(postgres, database, database_user, password)
    create_profile(
        config,
        name=name,
        email=email or get_config_option('autofill.user.email') or 'aiida@localhost',
        storage_backend=STORAGE_BACKEND,
        storage_config={
            'database_engine': 'postgresql_psycopg',
            'database_hostname': postgres.host,
            'database_port': postgres.port,
            'database_name': database,
            'database_username': database_user,
            'database_password': password,
            'repository_uri': (Path(config.dirpath) / 'repository' / name).as_uri(),
        },
        broker_backend=BROKER_BACKEND,
        broker_config=broker_config,
    )
    config.set_option('runner.poll.interval', RUNNER_POLL_INTERVAL_S, scope=name)
    if config.default_profile_name is None:
        config.set_default_profile(name)
    config.store()
    return load_profile(name, allow_switch=True), f'created (database {database}: {database_status})'


def describe_storage(profile: Profile) -> str:
    """``core.psql_dos (postgresql://user@host:port/db)`` or ``core.sqlite_dos (<folder>)``: where the data lives."""
    config = profile.storage_config
    backend = profile.storage_backend
    if backend == STORAGE_BACKEND:
        where = (
            f'postgresql://{config.get("database_username")}@{config.get("database_hostname")}:'
            f'{config.get("database_port")}/{config.get("database_name")}'
        )
    else:
        where = config.get('filepath') or config.get('repository_uri') or 'default location'
    return f'{backend} ({where})'


def describe_broker(profile: Profile) -> str:
    """``core.rabbitmq (amqp://user@host:port/vhost)``, ``core.zeromq (built into the daemon)`` or ``none``."""
    backend = profile.process_control_backend
    if backend is None:
        return 'none (cannot submit to a daemon)'
    if backend == BROKER_BACKEND:
        config = profile.process_control_config
        return (
            f'{backend} ({config.get("broker_protocol", "amqp")}://{config.get("broker_username")}@'
            f'{config.get("broker_host")}:{config.get("broker_port")}/{config.get("broker_virtual_host", "")})'
        )
    if backend == 'core.zeromq':
        return f'{backend} (built into the daemon)'
    return backend
