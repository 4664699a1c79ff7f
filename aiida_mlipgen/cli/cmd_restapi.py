"""``mlipgen restapi``: serve a profile's provenance over aiida-core's REST API, for the AiiDA explorer."""

from __future__ import annotations

import click

from aiida_mlipgen.setup.profile import DEFAULT_PROFILE_NAME

#: Loopback by default: the API has no authentication, so it is not exposed beyond this machine unless asked.
DEFAULT_HOSTNAME = '127.0.0.1'
DEFAULT_PORT = 5000


@click.command('restapi')
@click.option('-p', '--profile', default=DEFAULT_PROFILE_NAME, show_default=True, help='AiiDA profile to serve.')
@click.option(
    '-H', '--hostname', default=DEFAULT_HOSTNAME, show_default=True, help='Address to listen on (no authentication!).'
)
@click.option('-P', '--port', default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535))
def restapi(profile: str, hostname: str, port: int) -> None:
    """Serve PROFILE's nodes, links and files at http://HOSTNAME:PORT/api/v4 until interrupted (Ctrl-C).

    The same server as `verdi -p PROFILE restapi`, with the POST /querybuilder endpoint the AiiDA
    explorer uses. Datasets download as extxyz (`/nodes/UUID/download?download_format=extxyz`),
    models as their `.nequip.zip` package (`download_format=zip`).
    """
    from aiida import load_profile
    from aiida.manage.configuration import get_config

    if profile not in get_config().profile_names:
        raise click.BadParameter(
            f'no AiiDA profile `{profile}`: create it with `mlipgen setup`', param_hint='--profile'
        )
    try:
        from aiida.restapi.run_api import run_api
    except ImportError as exception:  # an environment installed without aiida-core's `rest` extra
        raise click.ClickException(
            f'the REST API needs aiida-core[rest]: pip install "aiida-core[rest]" ({exception})'
        ) from exception
    load_profile(profile)  # the API's resources use the loaded profile (verdi -p loads it the same way)
    run_api(profile=profile, hostname=hostname, port=port, posting=True)
