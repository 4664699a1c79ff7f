"""Protocol YAML files of the work chains (``fast`` / ``balanced`` / ``stringent``)."""

from __future__ import annotations

import pathlib

PROTOCOL_DIRECTORY = pathlib.Path(__file__).parent


def protocol_filepath(name: str) -> pathlib.Path:
    """Return the path of the protocol file ``<name>.yaml`` shipped with the package."""
    path = PROTOCOL_DIRECTORY / f'{name}.yaml'
    if not path.is_file():
        raise FileNotFoundError(f'no protocol file {path}')
    return path
