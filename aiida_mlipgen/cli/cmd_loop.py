"""``mlipgen run``, ``status``, ``report`` and ``export``: start and follow active-learning loops."""

from __future__ import annotations

from pathlib import Path

import click

from aiida_mlipgen.setup.profile import DEFAULT_PROFILE_NAME

PROFILE_OPTION = click.option(
    '-p', '--profile', default=DEFAULT_PROFILE_NAME, show_default=True, help='AiiDA profile to use.'
)


def one_line(exception: BaseException) -> str:
    """An exception's message on one line (AiiDA's validation messages span several)."""
    return ' '.join(str(exception).split()) or type(exception).__name__


def read_seed_files(paths) -> dict:
    """Every structure of every file as ASE Atoms keyed ``<file stem>_<index>``, each checked as a seed.

    :raises click.ClickException: one line naming the file or structure: unreadable, empty or corrupt files,
        structures without a cell or with overlapping atoms.
    """
    from aiida_mlipgen.science.structure_checks import read_structure_file, structure_problem

    frames = {}
    for path in paths:
        try:
            structures = read_structure_file(path)
        except ValueError as exception:
            raise click.ClickException(one_line(exception)) from None
        for index, atoms in enumerate(structures):
            key = ''.join(c if c.isalnum() else '_' for c in f'{Path(path).stem}_{index}')
            message = structure_problem(key, atoms)
            if message:
                raise click.ClickException(f'{path}: {message}')
            frames[key] = atoms
    return frames


def check_pseudopotentials(frames: dict, family_label: str) -> None:
    """Refuse elements that the pseudopotential family of the run lacks, naming the structures that hold them."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    try:
        family = orm.load_group(family_label)
    except NotExistent:
        raise click.ClickException(
            f'pseudopotential family `{family_label}` not found: run `mlipgen setup` first.'
        ) from None
    known = set(family.elements)
    for key, atoms in frames.items():
        missing = sorted(set(atoms.get_chemical_symbols()) - known)
        if missing:
            raise click.ClickException(
                f'structure `{key}`: no pseudopotential for {", ".join(missing)} in family `{family_label}` '
                f'(it has {", ".join(sorted(known))}).'
            )


def _load_loop(profile: str, pk: int | None):
    from aiida import load_profile, orm
    from aiida.common.exceptions import NotExistent

    load_profile(profile)
    if pk is not None:
        try:
            node = orm.load_node(pk)
        except NotExistent:
            raise click.ClickException(f'no node with pk {pk} in profile `{profile}`') from None
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
@click.option(
    '--config',
    'config_file',
    type=click.Path(exists=True, dir_okay=False),
    help='YAML file with computer, codes, protocol, max_iterations, max_dft_calls and overrides; options win.',
)
@click.option('--computer', help='Computer of every code not given otherwise (default: localhost).')
@click.option(
    '--code',
    'code_options',
    multiple=True,
    metavar='STAGE=CODE',
    help='Code of one stage (pw, train, explore, evaluate), e.g. --code pw=pw@mycluster; repeatable.',
)
@click.option('--protocol', type=click.Choice(['fast', 'balanced', 'stringent']), help='Default: balanced.')
@click.option('--max-iterations', type=int, help='Override the protocol.')
@click.option('--max-dft-calls', type=int, help='DFT budget (frames sent to DFT).')
@click.option('--label', 'group_label', help='Group prefix of the iterations (default mlipgen/al_<pk>).')
def run_loop(
    profile, structures, config_file, computer, code_options, protocol, max_iterations, max_dft_calls, group_label
):
    """Submit an active-learning loop seeded with STRUCTURES (any file ASE reads) to the daemon.

    Codes are `pw@COMPUTER`, `nequip-train@COMPUTER`, `mlipgen-explore@COMPUTER` and
    `mlipgen-evaluate@COMPUTER` unless the --config file or --code options name others.
    """
    from aiida import load_profile, orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent
    from aiida.engine import submit

    from aiida_mlipgen.cli.loop_inputs import parse_code_options, read_config, resolve_code_labels
    from aiida_mlipgen.setup.pseudo_family import DEFAULT_FAMILY_LABEL
    from aiida_mlipgen.workflows.active_learning import ActiveLearningWorkChain

    try:
        config = read_config(config_file)
        labels = resolve_code_labels(config, computer, parse_code_options(code_options))
    except ValueError as exception:
        raise click.UsageError(str(exception)) from exception
    frames = read_seed_files(structures)
    load_profile(profile)
    codes, missing = {}, []
    for stage, label in labels.items():
        try:
            codes[stage] = orm.load_code(label)
        except (NotExistent, MultipleObjectsError) as exception:
            missing.append(f'{stage}: {label} ({exception})')
    if missing:
        raise click.ClickException(
            'codes not found: ' + '; '.join(missing) + '. See `verdi code list`, docs/cluster_setup.md.'
        )
    check_pseudopotentials(frames, DEFAULT_FAMILY_LABEL)
    seeds = {key: orm.StructureData(ase=atoms) for key, atoms in frames.items()}
    overrides = dict(config.get('overrides') or {})
    for key, value in (
        ('max_iterations', max_iterations if max_iterations is not None else config.get('max_iterations')),
        ('max_dft_calls', max_dft_calls if max_dft_calls is not None else config.get('max_dft_calls')),
    ):
        if value is not None:
            overrides[key] = value
    try:
        builder = ActiveLearningWorkChain.get_builder_from_protocol(
            codes,
            seeds,
            protocol=protocol or config.get('protocol') or 'balanced',
            overrides=overrides,
            pseudo_family=DEFAULT_FAMILY_LABEL,
        )
        if group_label:
            builder.group_label = orm.Str(group_label)
        node = submit(builder)
    except (ValueError, TypeError) as exception:  # a refused input: the validators say what to fix
        raise click.ClickException(f'the loop was refused, nothing was submitted: {one_line(exception)}') from None
    click.echo(', '.join(f'{stage}: {code.full_label}' for stage, code in codes.items()))
    click.echo(f'submitted ActiveLearningWorkChain<{node.pk}>; follow it with `mlipgen status {node.pk}`')


@click.command('status')
@PROFILE_OPTION
@click.argument('pk', type=int, required=False)
def status(profile, pk):
    """Loop PK (default: the newest loop): its current stage, its unfinished jobs and the iteration table."""
    from aiida_mlipgen.cli.progress import progress_lines
    from aiida_mlipgen.cli.reporting import iteration_table

    node = _load_loop(profile, pk)
    click.echo(f'ActiveLearningWorkChain<{node.pk}> {node.process_state.value if node.process_state else ""}')
    for line in progress_lines(node):
        click.echo(line)
    click.echo(iteration_table(node))


@click.command('report')
@PROFILE_OPTION
@click.argument('pk', type=int, required=False)
@click.option('--html', 'html_dir', type=click.Path(file_okay=False), help='Write report.html with figures here.')
@click.option('--benchmark', 'benchmark_pk', type=int, help='BenchmarkWorkChain to show (default: the newest one).')
def report(profile, pk, html_dir, benchmark_pk):
    """The log of loop PK (default: the newest loop): every stage's report lines; --html: a page with figures.

    PK may also be a BenchmarkWorkChain: the page then shows that benchmark.
    """
    from aiida.cmdline.utils.common import get_workchain_report

    if html_dir:
        from aiida_mlipgen.cli.cmd_report import html_report

        click.echo(f'report: {html_report(profile, pk, html_dir, benchmark_pk)}')
        return
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
    from aiida_mlipgen.cli.deployment import export_deployment

    for name, path in export_deployment(node, directory).items():
        click.echo(f'{name}: {path}')
