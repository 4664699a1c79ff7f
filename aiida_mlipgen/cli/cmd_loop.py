"""``mlipgen run``, ``status``, ``report`` and ``export``: start and follow active-learning loops."""

from __future__ import annotations

from pathlib import Path

import click

from aiida_mlipgen.setup.profile import DEFAULT_PROFILE_NAME

PROFILE_OPTION = click.option(
    '-p', '--profile', default=DEFAULT_PROFILE_NAME, show_default=True, help='AiiDA profile to use.'
)
CODE_LABELS = {
    'pw': 'pw@localhost',
    'train': 'nequip-train@localhost',
    'explore': 'mlipgen-explore@localhost',
    'evaluate': 'mlipgen-evaluate@localhost',
}


def _load_loop(profile: str, pk: int | None):
    from aiida import load_profile, orm

    load_profile(profile)
    if pk is not None:
        node = orm.load_node(pk)
        if node.process_label != 'ActiveLearningWorkChain':
            raise click.BadParameter(f'<{pk}> is a {node.process_label}, not an ActiveLearningWorkChain')
        return node
    query = orm.QueryBuilder().append(
        orm.WorkChainNode, filters={'attributes.process_label': 'ActiveLearningWorkChain'}, project='*'
    )
    query.order_by({orm.WorkChainNode: {'ctime': 'desc'}})
    node = query.first(flat=True)
    if node is None:
        raise click.ClickException(f'no active-learning loop in profile `{profile}` yet')
    return node


@click.command('run')
@PROFILE_OPTION
@click.argument('structures', nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option('--protocol', type=click.Choice(['fast', 'balanced', 'stringent']), default='balanced', show_default=True)
@click.option('--max-iterations', type=int, help='Override the protocol.')
@click.option('--max-dft-calls', type=int, help='DFT budget (frames sent to DFT).')
@click.option('--label', 'group_label', help='Group prefix of the iterations (default mlipgen/al_<pk>).')
def run_loop(profile, structures, protocol, max_iterations, max_dft_calls, group_label):
    """Submit an active-learning loop seeded with STRUCTURES (any file ASE reads) to the daemon."""
    from aiida import load_profile, orm
    from aiida.engine import submit
    from ase.io import read

    from aiida_mlipgen.workflows.active_learning import ActiveLearningWorkChain

    load_profile(profile)
    seeds = {}
    for path in structures:
        for index, atoms in enumerate(read(path, index=':')):
            key = ''.join(c if c.isalnum() else '_' for c in f'{Path(path).stem}_{index}')
            seeds[key] = orm.StructureData(ase=atoms)
    codes = {name: orm.load_code(label) for name, label in CODE_LABELS.items()}
    overrides = {
        key: value
        for key, value in (('max_iterations', max_iterations), ('max_dft_calls', max_dft_calls))
        if value is not None
    }
    builder = ActiveLearningWorkChain.get_builder_from_protocol(codes, seeds, protocol=protocol, overrides=overrides)
    if group_label:
        builder.group_label = orm.Str(group_label)
    node = submit(builder)
    click.echo(f'submitted ActiveLearningWorkChain<{node.pk}>; follow it with `mlipgen status {node.pk}`')


@click.command('status')
@PROFILE_OPTION
@click.argument('pk', type=int, required=False)
def status(profile, pk):
    """The iteration table of loop PK (default: the newest loop), as far as it has got."""
    from aiida_mlipgen.cli.reporting import iteration_table

    node = _load_loop(profile, pk)
    click.echo(f'ActiveLearningWorkChain<{node.pk}> {node.process_state.value if node.process_state else ""}')
    click.echo(iteration_table(node))


@click.command('report')
@PROFILE_OPTION
@click.argument('pk', type=int, required=False)
def report(profile, pk):
    """The log of loop PK (default: the newest loop): every stage's report lines."""
    from aiida.cmdline.utils.common import get_workchain_report

    node = _load_loop(profile, pk)
    click.echo(get_workchain_report(node, 'REPORT'))


@click.command('export')
@PROFILE_OPTION
@click.argument('pk', type=int)
@click.argument('directory', type=click.Path(file_okay=False))
def export(profile, pk, directory):
    """Write the datasets (extxyz), committee (.nequip.zip) and report of finished loop PK into DIRECTORY."""
    from aiida_mlipgen.cli.reporting import export_loop

    node = _load_loop(profile, pk)
    if not node.is_finished:
        raise click.ClickException(f'loop <{pk}> has not finished yet: see `mlipgen status {pk}`')
    for name, path in export_loop(node, directory).items():
        click.echo(f'{name}: {path}')
