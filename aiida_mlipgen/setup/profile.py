"""The AiiDA profile and its daemon: SQLite storage with the built-in ZeroMQ broker, no services to install.

The profile lives in the AiiDA configuration folder (``~/.aiida``, or ``$AIIDA_PATH/.aiida``).
A profile that exists, of any kind (PostgreSQL + RabbitMQ included), is loaded as it is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from aiida.manage.configuration import Profile, create_profile, get_config, get_config_option, load_profile

DEFAULT_PROFILE_NAME = 'mlipgen'
STORAGE_BACKEND = 'core.sqlite_dos'
BROKER_BACKEND = 'core.zeromq'
#: How often the engine polls running processes, in seconds (``verdi presto`` sets the same).
RUNNER_POLL_INTERVAL_S = 1


def get_or_create_profile(name: str = DEFAULT_PROFILE_NAME, email: str | None = None) -> tuple[Profile, str]:
    """Load profile ``name``, creating it first if it does not exist; return it and ``created`` or ``exists``.

    A new profile becomes the default one only when there is no default yet.

    :param email: email of a new profile's default user (default: ``autofill.user.email`` or aiida@localhost).
    """
    from aiida.plugins import BrokerFactory

    config = get_config(create=True)
    if name in config.profile_names:
        return load_profile(name, allow_switch=True), 'exists'

    create_profile(
        config,
        name=name,
        email=email or get_config_option('autofill.user.email') or 'aiida@localhost',
        storage_backend=STORAGE_BACKEND,
        storage_config={},
        broker_backend=BROKER_BACKEND,
        broker_config=BrokerFactory(BROKER_BACKEND).get_default_config(),
    )
    config.set_option('runner.poll.interval', RUNNER_POLL_INTERVAL_S, scope=name)
    if config.default_profile_name is None:
        config.set_default_profile(name)
    config.store()
    return load_profile(name, allow_switch=True), 'created'


def ensure_daemon(profile: Profile, workers: int = 2) -> str:
    """Start the daemon of ``profile`` with ``workers`` workers unless it runs; return what happened.

    The daemon is started through this environment's ``verdi`` with its ``bin`` folder first on PATH,
    so that the workers run the same Python and find the same plugins.

    :raises RuntimeError: with verdi's message if the daemon cannot start (a profile without broker).
    """
    from aiida.engine.daemon.client import get_daemon_client

    if get_daemon_client(profile.name).is_daemon_running:
        return 'running'

    bindir = Path(sys.executable).parent
    env = {**os.environ, 'PATH': f'{bindir}{os.pathsep}{os.environ.get("PATH", "")}'}
    command = [str(bindir / 'verdi'), '-p', profile.name, 'daemon', 'start', str(workers)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        message = ' '.join(f'{result.stdout} {result.stderr}'.split())
        raise RuntimeError(f'`verdi -p {profile.name} daemon start` failed: {message} (--no-daemon skips the daemon)')
    return f'started ({workers} workers)'
