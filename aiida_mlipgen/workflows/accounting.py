"""Wall time and core-hours of a finished process and the DFT runs under it, for the loop's table."""

from __future__ import annotations

from aiida import orm


def _cores(calculation: orm.CalcJobNode) -> int:
    resources = calculation.get_option('resources') or {}
    if 'tot_num_mpiprocs' in resources:
        return int(resources['tot_num_mpiprocs'])
    machines = int(resources.get('num_machines', 1))
    per_machine = resources.get('num_mpiprocs_per_machine') or resources.get('num_cores_per_machine') or 1
    return machines * int(per_machine)


def _seconds(node: orm.ProcessNode) -> float:
    return max((node.mtime - node.ctime).total_seconds(), 0.0)


def calculations_under(process: orm.ProcessNode) -> list[orm.CalcJobNode]:
    """Every CalcJob run by ``process`` or its descendants (a CalcJob itself counts once)."""
    if isinstance(process, orm.CalcJobNode):
        return [process]
    return [node for node in process.called_descendants if isinstance(node, orm.CalcJobNode)]


def stage_accounting(process: orm.ProcessNode) -> dict:
    """``wall_s`` of the stage and ``core_hours`` = sum over its CalcJobs of requested cores x job wall time.

    Job wall time is the CalcJob node's creation-to-last-change time, so it includes queueing on a
    busy cluster: read it as an upper bound there.
    """
    core_seconds = sum(_cores(node) * _seconds(node) for node in calculations_under(process))
    return {'wall_s': round(_seconds(process), 1), 'core_hours': round(core_seconds / 3600, 4)}


def dft_calls(labelling: orm.WorkflowNode) -> int:
    """Frames a labelling run sent to its labeller: one ``PwBaseWorkChain`` each, or the frames of each teacher job.

    Screened-out frames cost nothing; frames that failed cost as much as the others and count.
    """
    count = 0
    for node in labelling.called:
        if node.process_label == 'PwBaseWorkChain':
            count += 1
        elif node.process_label == 'TeacherLabelCalculation':
            count += node.inputs.frames.num_frames
    return count
