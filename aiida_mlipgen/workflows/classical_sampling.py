"""``ClassicalSamplingWorkChain``: unlabelled frames for an initial training set from classical LAMMPS MD."""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain
from aiida.plugins import WorkflowFactory
from aiida_lammps.data.potential import LammpsPotentialData
from aiida_quantumespresso.workflows.protocols.utils import ProtocolMixin, recursive_merge

from aiida_mlipgen.calculations.lammps_frames import (
    STRUCTURE_PREFIX,
    THERMO_PREFIX,
    TRAJECTORY_PREFIX,
    lammps_frames,
)
from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.science.contract import condition_label
from aiida_mlipgen.science.exit_codes import declare
from aiida_mlipgen.workflows.classical_sampling_inputs import (
    check_md_settings,
    check_potential,
    check_structures,
    check_temperatures,
    md_parameters,
    run_key,
)
from aiida_mlipgen.workflows.input_checks import check_structures as check_structure_inputs
from aiida_mlipgen.workflows.protocols import protocol_filepath

LammpsBaseWorkChain = WorkflowFactory('lammps.base')

#: The MD settings the input validator checks together (in the order ``check_md_settings`` takes them).
_MD_SETTINGS = ('timestep', 'num_steps', 'stride', 'equilibration_steps', 'thermostat_damping')


def validate_inputs(inputs, _):
    """Refuse, before any job, a grid or MD settings that cannot give frames (a wrapper may exclude ports)."""
    if 'temperatures' in inputs:
        message = check_temperatures(inputs['temperatures'].get_list())
        if message:
            return message
    if all(name in inputs for name in _MD_SETTINGS):
        message = check_md_settings(*(inputs[name].value for name in _MD_SETTINGS))
        if message:
            return message
    if 'potential' in inputs:
        message = check_potential(inputs['potential'])
        if message:
            return message
        message = check_structures(dict(inputs.get('structures', {})), inputs['potential'])
        if message:
            return message
    return check_structure_inputs(inputs.get('structures'), 'structures')


def _failure_reason(node: orm.WorkflowNode) -> str:
    """Why a ``LammpsBaseWorkChain`` failed, with the message of its last calculation when there is one."""
    reason = node.exit_message or f'process {node.process_state.value}'
    calculations = [child for child in node.called if isinstance(child, orm.CalcJobNode)]
    if calculations and calculations[-1].exit_message:
        reason = f'{reason.strip()} Last calculation: {calculations[-1].exit_message}'
    return ' '.join(reason.split())


def validate_seed(value, _):
    """LAMMPS velocity seeds are positive integers."""
    if value.value < 1:
        return f'must be a positive integer, got {value.value}.'
    return None


class ClassicalSamplingWorkChain(ProtocolMixin, WorkChain):
    """NVT molecular dynamics with a classical potential over structures x temperatures, one LAMMPS run each.

    Every run (a ``LammpsBaseWorkChain`` from aiida-lammps) writes positions every ``stride`` steps; the frames
    after ``equilibration_steps`` are gathered by the calcfunction ``lammps_frames`` into one unlabelled
    ``DatasetData``, ready for labelling. A run that fails is recorded in ``failures``; only when all fail does
    the work chain fail.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(
            LammpsBaseWorkChain,
            namespace='md',
            exclude=(
                'lammps.structure',
                'lammps.parameters',
                'lammps.potential',
                'lammps.input_restartfile',
                'lammps.parent_folder',
            ),
            namespace_options={'help': 'Inputs of the `LammpsBaseWorkChain` of every run: code, options, restarts.'},
        )
        spec.input_namespace(
            'structures',
            valid_type=orm.StructureData,
            dynamic=True,
            help='The periodic structures to start MD from, keyed by a name kept as `source_structure` in the frames.',
        )
        spec.input(
            'potential',
            valid_type=LammpsPotentialData,
            help='The classical potential (metal units) covering every element of the structures.',
        )
        spec.input(
            'temperatures',
            valid_type=orm.List,
            help='Thermostat temperatures (K), positive and distinct: every structure is run at each.',
        )
        spec.input('timestep', valid_type=orm.Float, default=lambda: orm.Float(0.001), help='MD timestep (ps).')
        spec.input('num_steps', valid_type=orm.Int, help='MD steps per run.')
        spec.input('stride', valid_type=orm.Int, help='A frame is written every `stride` steps.')
        spec.input(
            'equilibration_steps',
            valid_type=orm.Int,
            default=lambda: orm.Int(0),
            help='Frames at or before this step are left out (the start and the thermostat transient).',
        )
        spec.input(
            'thermostat_damping',
            valid_type=orm.Float,
            default=lambda: orm.Float(0.1),
            help='Nose-Hoover damping time (ps); about 100 timesteps is usual.',
        )
        spec.input(
            'seed',
            valid_type=orm.Int,
            default=lambda: orm.Int(1),
            validator=validate_seed,
            help='Seed of the initial velocities of the first run; run n (in key order) uses seed + n.',
        )
        spec.inputs.validator = validate_inputs

        spec.outline(cls.run_md, cls.inspect_md, cls.collect_frames)
        spec.output(
            'dataset',
            valid_type=DatasetData,
            help='Unlabelled frames (positions and cell); info: temperature, kinetic_temperature (K), step, time '
            '(ps), condition, source_structure, source_structure_uuid, lammps_calculation_uuid.',
        )
        spec.output(
            'failures',
            valid_type=orm.Dict,
            required=False,
            help='Runs that failed: run key -> reason, exit status and process UUID (only when some failed).',
        )
        declare(spec, 'ERROR_ALL_MD_FAILED', 'All {num_runs} MD runs failed: {reasons}')

    @classmethod
    def get_protocol_filepath(cls):
        """Return the path of the protocol file."""
        return protocol_filepath('classical_sampling')

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        structures: dict[str, orm.StructureData] | list[orm.StructureData],
        potential: LammpsPotentialData,
        protocol: str | None = None,
        overrides: dict | None = None,
        options: dict | None = None,
    ):
        """Return a builder with the protocol's inputs for sampling ``structures`` with ``potential`` and ``code``.

        :param code: a code of the ``lammps.base`` plugin.
        :param structures: a dict or list (keys ``structure_000``...) of periodic StructureData.
        :param potential: e.g. from :func:`~aiida_mlipgen.workflows.classical_sampling_inputs.lammps_potential`.
        :param protocol: ``fast``, ``balanced`` (default) or ``stringent``.
        :param overrides: dict overriding the protocol's inputs (same nesting as the ports).
        :param options: ``metadata.options`` of every ``LammpsBaseCalculation``, merged over the protocol's.
        :raises ValueError: on bad input, before anything runs.
        """
        inputs = cls.get_protocol_inputs(protocol, overrides)
        named = (
            dict(structures)
            if isinstance(structures, dict)
            else {f'structure_{index:03d}': structure for index, structure in enumerate(structures)}
        )
        md_inputs = recursive_merge(inputs.get('md', {}), {'lammps': {'metadata': {'options': options or {}}}})
        md_inputs['lammps']['code'] = code

        builder = cls.get_builder()
        builder.md = md_inputs
        builder.structures = named
        builder.potential = potential
        builder.temperatures = orm.List([float(value) for value in inputs['temperatures']])
        for name in ('timestep', 'thermostat_damping'):
            builder[name] = orm.Float(inputs[name])
        for name in ('num_steps', 'stride', 'equilibration_steps', 'seed'):
            builder[name] = orm.Int(inputs[name])
        message = validate_inputs(builder._inputs(prune=True), None)
        if message:
            raise ValueError(message)
        return builder

    def _runs(self) -> list[tuple[str, str, float]]:
        """(run key, structure key, temperature) of every run, in a fixed order."""
        return [
            (run_key(key, temperature), key, temperature)
            for key in sorted(self.inputs.structures)
            for temperature in self.inputs.temperatures.get_list()
        ]

    def run_md(self):
        """Submit one ``LammpsBaseWorkChain`` per structure and temperature."""
        futures = {}
        for index, (key, structure_key, temperature) in enumerate(self._runs()):
            inputs = AttributeDict(self.exposed_inputs(LammpsBaseWorkChain, namespace='md'))
            inputs.lammps.structure = self.inputs.structures[structure_key]
            inputs.lammps.potential = self.inputs.potential
            inputs.lammps.parameters = orm.Dict(
                md_parameters(
                    temperature,
                    self.inputs.timestep.value,
                    self.inputs.num_steps.value,
                    self.inputs.stride.value,
                    self.inputs.thermostat_damping.value,
                    self.inputs.seed.value + index,
                )
            )
            inputs.metadata.call_link_label = f'md_{key}'
            futures[key] = self.submit(LammpsBaseWorkChain, **inputs)
        self.report(f'submitted {len(futures)} MD runs: {", ".join(f"{k}<{n.pk}>" for k, n in futures.items())}')
        return ToContext(**{f'md_{key}': node for key, node in futures.items()})

    def inspect_md(self):
        """Keep the trajectories of the runs that finished well; record why the others failed."""
        self.ctx.finished = []
        self.ctx.failures = {}
        for key, _, _ in self._runs():
            node = self.ctx[f'md_{key}']
            if node.is_finished_ok and 'trajectories' in node.outputs:
                self.ctx.finished.append(key)
                continue
            reason = _failure_reason(node)
            self.ctx.failures[key] = {'reason': reason, 'exit_status': node.exit_status, 'process_uuid': node.uuid}
            self.report(f'run {key}: LammpsBaseWorkChain<{node.pk}> failed ({node.exit_status}): {reason}')
        if not self.ctx.finished:
            reasons = '; '.join(f'{key}: {record["reason"]}' for key, record in sorted(self.ctx.failures.items()))
            return self.exit_codes.ERROR_ALL_MD_FAILED.format(num_runs=len(self.ctx.failures), reasons=reasons)
        return None

    def collect_frames(self):
        """Gather the frames through the calcfunction ``lammps_frames``, so each traces to its LAMMPS run."""
        runs = {key: (structure_key, temperature) for key, structure_key, temperature in self._runs()}
        conditions = {}
        nodes = {}
        for key in self.ctx.finished:
            structure_key, temperature = runs[key]
            node = self.ctx[f'md_{key}']
            conditions[key] = {
                'structure': structure_key,
                'temperature': temperature,
                'timestep': self.inputs.timestep.value,
                'condition': condition_label(structure_key, temperature),
            }
            nodes[f'{TRAJECTORY_PREFIX}{key}'] = node.outputs.trajectories
            nodes[f'{THERMO_PREFIX}{key}'] = node.outputs.time_dependent_computes
            nodes[f'{STRUCTURE_PREFIX}{structure_key}'] = self.inputs.structures[structure_key]
        if self.ctx.failures:
            nodes['failures'] = orm.Dict(self.ctx.failures)
        results = lammps_frames(
            conditions=orm.Dict(conditions), equilibration_steps=self.inputs.equilibration_steps, **nodes
        )
        self.out('dataset', results['dataset'])
        if 'failures' in results:
            self.out('failures', results['failures'])
        self.report(
            f'{results["dataset"].num_frames} frames from {len(self.ctx.finished)} runs; '
            f'{len(self.ctx.failures)} failed: {", ".join(sorted(self.ctx.failures)) or "none"}'
        )
