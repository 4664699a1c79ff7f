"""Where a running loop is: its current stage and its jobs that have not finished, for ``mlipgen status``."""

from __future__ import annotations

from dataclasses import dataclass

from aiida import orm
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


def active_stages(loop: orm.WorkflowNode) -> list[orm.WorkflowNode]:
    """Work chains the loop called itself that have not terminated, oldest first."""
    query = orm.QueryBuilder()
    query.append(orm.WorkflowNode, filters={'id': loop.pk}, tag='loop')
    query.append(
        orm.WorkflowNode,
        with_incoming='loop',
        edge_filters={'type': LinkType.CALL_WORK.value},
        filters={'attributes.process_state': {'in': ACTIVE_STATES}},
        project='*',
    )
    return sorted(query.all(flat=True), key=lambda node: node.ctime)


def active_jobs(loop: orm.WorkflowNode) -> list[Job]:
    """Calculation jobs anywhere below the loop that have not terminated, oldest first."""
    query = orm.QueryBuilder()
    query.append(orm.WorkflowNode, filters={'id': loop.pk}, tag='loop')
    query.append(
        orm.CalcJobNode,
        with_ancestors='loop',
        filters={'attributes.process_state': {'in': ACTIVE_STATES}},
        project='*',
    )
    jobs = []
    for node in sorted(query.all(flat=True), key=lambda node: node.ctime):
        scheduler_state = node.get_scheduler_state()
        calc_state = node.get_state()
        if scheduler_state is not None:
            state = f'{scheduler_state.value} in the queue'
        elif calc_state is not None:
            state = calc_state.value
        else:
            state = node.process_state.value if node.process_state else 'created'
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
