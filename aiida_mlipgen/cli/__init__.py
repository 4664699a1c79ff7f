"""The ``mlipgen`` command line."""

import click

from .cmd_loop import export, report, run_loop, status
from .cmd_restapi import restapi
from .cmd_setup import setup


@click.group(context_settings={'help_option_names': ['-h', '--help']})
def cli():
    """aiida-mlipgen: training sets for machine-learning interatomic potentials by active learning."""


cli.add_command(setup)
cli.add_command(restapi)
for command in (run_loop, status, report, export):
    cli.add_command(command)
