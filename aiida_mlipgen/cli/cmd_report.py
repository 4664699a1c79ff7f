"""``mlipgen report PK --html DIR``: which loop and benchmark to show, then :func:`.html_report.write_html_report`."""

from __future__ import annotations

from pathlib import Path

import click


def html_report(profile: str, pk: int | None, directory: str, benchmark_pk: int | None = None) -> Path:
    """Write the HTML report of loop or benchmark ``pk`` (default: the newest loop) into ``directory``."""
    from aiida import load_profile, orm

    from aiida_mlipgen.cli.deployment import find_benchmark
    from aiida_mlipgen.cli.html_report import write_html_report

    load_profile(profile)
    loop = benchmark = None
    node = orm.load_node(pk) if pk is not None else None
    if node is not None and node.process_label == 'BenchmarkWorkChain':
        benchmark = node
    else:
        from aiida_mlipgen.cli.cmd_loop import _load_loop

        loop = _load_loop(profile, pk)
        benchmark = find_benchmark(loop)
    if benchmark_pk is not None:
        benchmark = orm.load_node(benchmark_pk)
        if benchmark.process_label != 'BenchmarkWorkChain':
            raise click.BadParameter(f'<{benchmark_pk}> is a {benchmark.process_label}, not a BenchmarkWorkChain')
    return write_html_report(directory, loop=loop, benchmark=benchmark)
