"""``ExplorationWorkChain``: the condition grid as parallel exploration jobs, frames and statistics merged."""

from __future__ import annotations

import itertools

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import calcfunction, while_
from aiida_quantumespresso.workflows.protocols.utils import ProtocolMixin

from aiida_mlipgen.calculations.dataset_operations import merge_datasets
from aiida_mlipgen.calculations.explore import ExploreCalculation, check_conditions
from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.data.model import ModelData
from aiida_mlipgen.engines.exploration_settings import structure_temperatures
from aiida_mlipgen.science.contract import TrustLevels
from aiida_mlipgen.science.exit_codes import declare
from aiida_mlipgen.workflows.input_checks import check_structures
from aiida_mlipgen.workflows.job_pool import JobPoolWorkChain
from aiida_mlipgen.workflows.protocols import protocol_filepath

NPT_PREFIX = 'npt'


def grid(conditions: dict, structure_names: list[str]) -> list[dict]:
    """One job per structure x temperature (x pressure for NPT): its own conditions, with a distinct seed.

    ``temperatures_K`` is a list for every structure or a mapping structure -> list (structures it leaves
    out are not explored).
    """
    pressures = conditions.get('pressures_GPa') if conditions['ensemble'].startswith(NPT_PREFIX) else [None]
    jobs = []
    points = (
        (name, temperature, pressure)
        for name in sorted(structure_names)
        for temperature, pressure in itertools.product(
            structure_temperatures(conditions['temperatures_K'], name), pressures
        )
    )
    for index, (name, temperature, pressure) in enumerate(points):
        job = {**conditions, 'temperatures_K': [temperature], 'seed': conditions.get('seed', 0) + index}
        if pressure is not None:
            job['pressures_GPa'] = [pressure]
        jobs.append({'structure': name, 'conditions': job})
    return jobs


@calcfunction
def merge_exploration_statistics(**statistics: orm.Dict) -> orm.Dict:
    """Per-condition statistics of every job in one table, with totals (frame classes summed)."""
    conditions = [entry for key in sorted(statistics) for entry in statistics[key]['conditions']]
    totals = {name: sum(entry[name] for entry in conditions) for name in ('accurate', 'candidate', 'failed')}
    total = sum(totals.values())
    totals['total'] = total
    totals.update(
        {f'{name}_fraction': (totals[name] / total if total else 0.0) for name in ('accurate', 'candidate', 'failed')}
    )
    return orm.Dict(
        {
            'conditions': conditions,
            'totals': totals,
            'stopped_early': [entry['label'] for entry in conditions if entry['stopped_early']],
        }
    )


def validate_trust_levels(value, _) -> str | None:
    """The trust levels of :class:`~aiida_mlipgen.science.contract.TrustLevels`, checked before any job."""
    try:
        TrustLevels.from_dict(value.get_dict())
    except ValueError as exception:
        return str(exception)
    return None


def validate_inputs(inputs, _) -> str | None:
    """The whole grid checked as the engine will check it, before any job."""
    if not {'conditions', 'models', 'structures'} <= set(inputs):
        return None
    message = check_structures(inputs['structures'], 'structures')
    if message:
        return message
    trust_levels = inputs['trust_levels'].get_dict() if 'trust_levels' in inputs else None
    return check_conditions(
        inputs['conditions'].get_dict(), dict(inputs['structures']), dict(inputs['models']), trust_levels
    )


def validate_positive(value, _) -> str | None:
    """Counts must be positive."""
    return None if value.value > 0 else f'must be positive, got {value.value}.'


class ExplorationWorkChain(ProtocolMixin, JobPoolWorkChain):
    """Explore structures x temperatures (x pressures) with a committee, one ``ExploreCalculation`` per condition.

    Jobs run at most ``max_concurrent`` at a time, the next one submitted as soon as one ends. A job cut short
    (walltime) keeps the conditions it finished; a job that fails is reported and left out; all jobs failing is an
    error.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(
            ExploreCalculation,
            namespace='explore',
            exclude=('models', 'structures', 'conditions', 'trust_levels'),
            namespace_options={'help': 'Code and options of every exploration job.'},
        )
        spec.input_namespace('models', valid_type=ModelData, dynamic=True, help='The committee.')
        spec.input_namespace(
            'structures', valid_type=orm.StructureData, dynamic=True, help='Structures MD starts from.'
        )
        spec.input(
            'conditions',
            valid_type=orm.Dict,
            help='Grid and MD settings: temperatures_K (a list, or a list per structure name), ensemble, '
            'timestep_fs, steps, stride, optional '
            'pressures_GPa (NPT), stop_after for the early stop, seed, ...',
        )
        spec.input(
            'trust_levels',
            valid_type=orm.Dict,
            required=False,
            validator=validate_trust_levels,
            help='Trust windows that classify the frames and stop a run above force_trust_hi: force_trust_lo/hi '
            '(eV/A), optional energy_trust_lo/hi (eV/atom) and stress_trust_lo/hi (GPa); default 0.05/0.15 eV/A '
            '(DP-GEN). The active-learning loop passes its own, the one its selection uses.',
        )
        spec.input(
            'max_concurrent',
            valid_type=orm.Int,
            default=lambda: orm.Int(4),
            validator=validate_positive,
            help='Most exploration jobs in flight at once.',
        )
        spec.inputs.validator = validate_inputs
        spec.outline(
            cls.setup,
            while_(cls.pool_is_busy)(cls.pool_step),
            cls.collect,
        )
        spec.output('frames', valid_type=DatasetData, help='Sampled frames of every condition, with deviations.')
        spec.output('statistics', valid_type=orm.Dict, help='Per-condition statistics of every job and totals.')
        declare(spec, 'ERROR_ALL_JOBS_FAILED', 'No exploration job produced frames: {reasons}')

    @classmethod
    def get_protocol_filepath(cls):
        """Return the path of the protocol file."""
        return protocol_filepath('exploration')

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        models: dict[str, ModelData] | None,
        structures: dict[str, orm.StructureData],
        protocol: str | None = None,
        overrides: dict | None = None,
        options: dict | None = None,
    ):
        """Return a builder for exploring ``structures`` with the committee ``models`` (None: set later).

        :param code: a ``mlipgen-explore`` code (``mlipgen.explore``).
        :param overrides: overrides of the protocol; ``conditions`` keys are merged into the protocol's.
        :param options: ``metadata.options`` of every job (e.g. ``custom_scheduler_commands`` for a GPU).
        """
        inputs = cls.get_protocol_inputs(protocol, overrides)
        builder = cls.get_builder()
        builder.explore.code = code
        builder.explore.metadata.options = {**inputs.get('options', {}), **(options or {})}
        if models:
            builder.models = models
        builder.structures = structures
        builder.conditions = orm.Dict(inputs['conditions'])
        if inputs.get('trust_levels'):
            builder.trust_levels = orm.Dict(inputs['trust_levels'])
        builder.max_concurrent = orm.Int(inputs['max_concurrent'])
        return builder

    def setup(self):
        """Lay out the grid, one job per condition."""
        jobs = grid(self.inputs.conditions.get_dict(), list(self.inputs.structures))
        self.ctx.jobs = {f'job_{index:03d}': job for index, job in enumerate(jobs)}
        self.ctx.finished = {}
        self.ctx.failures = {}
        self.report(f'{len(jobs)} exploration jobs, at most {self.inputs.max_concurrent.value} at once')
        self.pool_start(sorted(self.ctx.jobs))

    def pool_submit(self, key):
        """Submit the exploration job ``key``: one structure at one set of conditions."""
        job = self.ctx.jobs[key]
        inputs = AttributeDict(self.exposed_inputs(ExploreCalculation, namespace='explore'))
        inputs.models = self.inputs.models
        inputs.structures = {job['structure']: self.inputs.structures[job['structure']]}
        inputs.conditions = orm.Dict(job['conditions'])
        if 'trust_levels' in self.inputs:
            inputs.trust_levels = self.inputs.trust_levels
        inputs.metadata = AttributeDict(inputs.get('metadata', {}))
        inputs.metadata.call_link_label = key
        return self.submit(ExploreCalculation, **inputs)

    def pool_collect(self, key, node):
        """Keep a job with frames (complete, or cut short with what it finished); report the others."""
        if 'frames' in node.outputs and 'statistics' in node.outputs:
            self.ctx.finished[key] = node
            if not node.is_finished_ok:
                self.report(f'{key} <{node.pk}> kept partially: {node.exit_message}')
        else:
            self.ctx.failures[key] = f'<{node.pk}> exit status {node.exit_status}: {node.exit_message}'
            self.report(f'{key} failed: {self.ctx.failures[key]}')

    def collect(self):
        """Merge frames and statistics (calcfunctions), so selection traces back to every job."""
        if not self.ctx.finished:
            reasons = '; '.join(f'{key} {reason}' for key, reason in sorted(self.ctx.failures.items()))
            return self.exit_codes.ERROR_ALL_JOBS_FAILED.format(reasons=reasons)
        finished = dict(sorted(self.ctx.finished.items()))
        self.out('frames', merge_datasets(**{key: node.outputs.frames for key, node in finished.items()}))
        statistics = merge_exploration_statistics(**{key: node.outputs.statistics for key, node in finished.items()})
        self.out('statistics', statistics)
        totals = statistics['totals']
        self.report(
            f'{totals["total"]} frames checked: {totals["accurate"]} accurate, {totals["candidate"]} candidates, '
            f'{totals["failed"]} failed; stopped early: {", ".join(statistics["stopped_early"]) or "none"}'
        )
        return None
