"""Where a running loop is: its current stage and its jobs that have not finished, for ``mlipgen status``."""

from __future__ import annotations

from dataclasses import dataclass

from aiida import orm
from aiida.common.datastructures import CalcJobState
from aiida.common.links import LinkType

#: Process states of a process that has not terminated.
ACTIVE_STATES = ('created', 'waiting', 'running')


@dataclass(frozen=True)
class Job:
    """One calculation job of the loop that has not finished."""

    pk: int
    process_label: str
    computer: str
    job_id: str | None
    state: str


def active_children(parent_pks: list[int]) -> list[orm.ProcessNode]:
    """Processes called by any of ``parent_pks`` that have not terminated, oldest first."""
    if not parent_pks:
        return []
    query = orm.QueryBuilder()
    query.append(orm.WorkflowNode, filters={'id': {'in': parent_pks}}, tag='parent')
    query.append(
        orm.ProcessNode,
        with_incoming='parent',
        edge_filters={'type': {'in': (LinkType.CALL_WORK.value, LinkType.CALL_CALC.value)}},
        filters={'attributes.process_state': {'in': ACTIVE_STATES}},
        project='*',
    )
    return sorted(query.all(flat=True), key=lambda node: node.ctime)


def active_stages(loop: orm.WorkflowNode) -> list[orm.WorkflowNode]:
    """Work chains the loop called itself that have not terminated, oldest first."""
    return [node for node in active_children([loop.pk]) if isinstance(node, orm.WorkflowNode)]


def active_jobs(loop: orm.WorkflowNode) -> list[Job]:
    """Calculation jobs anywhere below the loop that have not terminated, oldest first.

    Follows the call links through running work chains only: a terminated one has no running jobs.
    (Query-builder ancestry follows data links, not call links, so it cannot be used here.)
    """
    calculations, frontier = [], [loop.pk]
    while frontier:
        children = active_children(frontier)
        calculations += [node for node in children if isinstance(node, orm.CalcJobNode)]
        frontier = [node.pk for node in children if isinstance(node, orm.WorkflowNode)]
    jobs = []
    for node in sorted(calculations, key=lambda node: node.ctime):
        scheduler_state = node.get_scheduler_state()
        calc_state = node.get_state()
        if calc_state is CalcJobState.WITHSCHEDULER and scheduler_state is not None:
            state = f'scheduler: {scheduler_state.value}'
        elif calc_state is not None:
            state = f'aiida: {calc_state.value}'  # uploading, submitting, retrieving, parsing, ...
        else:
            state = f'aiida: {node.process_state.value if node.process_state else "created"}'
        jobs.append(
            Job(
                pk=node.pk,
                process_label=node.process_label or '?',
                computer=node.computer.label if node.computer else '?',
                job_id=node.get_job_id(),
                state=state,
            )
        )
    return jobs


def progress_lines(loop: orm.WorkflowNode) -> list[str]:
    """``stage:`` and ``jobs:`` lines of a loop that has not terminated; nothing for one that has."""
    if loop.is_terminated:
        return []
    stages = active_stages(loop)
    if stages:
        stage = stages[-1]
        lines = [f'stage: {stage.process_label}<{stage.pk}> {stage.process_state.value}']
    else:
        lines = ['stage: between stages (the loop itself is working)']
    jobs = active_jobs(loop)
    lines.append(f'jobs: {len(jobs)} not finished' if jobs else 'jobs: none running')
    for job in jobs:
        where = f'{job.computer} job {job.job_id}' if job.job_id else job.computer
        lines.append(f'  {job.process_label}<{job.pk}> on {where}: {job.state}')
    return lines
