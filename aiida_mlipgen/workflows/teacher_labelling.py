"""``TeacherLabellingWorkChain``: labels from a cheap reference calculator, many frames per job.

The same ports, gates and outputs as ``LabellingWorkChain``, with a teacher (any ASE calculator named
by an import path and keyword arguments) in place of Quantum ESPRESSO. Used to distil a large model
into a fast NequIP model, and to rehearse a loop's settings cheaply before spending DFT.
"""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import while_
from aiida_quantumespresso.workflows.protocols.utils import ProtocolMixin

from aiida_mlipgen.calculations.dataset_conversion import batch_frames, frame_key, structures_to_dataset
from aiida_mlipgen.calculations.labelled_dataset import build_teacher_dataset
from aiida_mlipgen.calculations.teacher_label import TeacherLabelCalculation, teacher_settings
from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.workflows.job_pool import JobPoolWorkChain
from aiida_mlipgen.workflows.labelling_inputs import check_reference
from aiida_mlipgen.workflows.labelling_ports import (
    check_frame_source,
    define_labeller_ports,
    finish_labelling,
    screening_failures,
    validate_positive,
)
from aiida_mlipgen.workflows.protocols import protocol_filepath

#: Ports of the calculation that the work chain sets itself.
_OWN = ('frames',)


def validate_inputs(inputs, namespace) -> str | None:
    """Frames, and a teacher whose settings equal those of ``reference_dataset``, before any job."""
    if 'dataset' in namespace and 'structures' in namespace:
        message = check_frame_source(inputs)
        if message:
            return message
    reference = inputs.get('reference_dataset')
    calculator = inputs.get('teacher', {}).get('calculator')
    if reference is not None and calculator is not None:
        return check_reference(teacher_settings(calculator.get_dict()), reference.labelling_settings)
    return None


class TeacherLabellingWorkChain(ProtocolMixin, JobPoolWorkChain):
    """Label frames with a teacher calculator in batches of ``frames_per_job``, with the labelling gates.

    Frames with atoms too close are not labelled; frames the teacher cannot label and frames failing the
    force gates are recorded in ``failures`` and never enter ``dataset``. The dataset's labelling
    settings name the teacher and its parameters, so its labels never mix with DFT labels or another
    teacher's.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(
            TeacherLabelCalculation,
            namespace='teacher',
            exclude=_OWN,
            namespace_options={'help': 'The teacher calculation: code, calculator and scheduler options.'},
        )
        define_labeller_ports(spec, max_concurrent=4, max_concurrent_help='Most teacher jobs in flight at once.')
        spec.input(
            'frames_per_job',
            valid_type=orm.Int,
            default=lambda: orm.Int(1000),
            validator=validate_positive,
            help='Frames labelled by one job: a teacher label costs milliseconds, so jobs are large.',
        )
        spec.inputs.validator = validate_inputs
        spec.outline(
            cls.setup,
            cls.screen_frames,
            while_(cls.pool_is_busy)(cls.pool_step),
            cls.collect_dataset,
        )

    @classmethod
    def get_protocol_filepath(cls):
        """Return the path of the protocol file."""
        return protocol_filepath('teacher_labelling')

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        calculator: dict,
        structures: dict[str, orm.StructureData] | DatasetData | None = None,
        protocol: str | None = None,
        overrides: dict | None = None,
        options: dict | None = None,
    ):
        """Return a builder labelling ``structures`` with the teacher ``calculator`` run by ``code``.

        :param code: a ``mlipgen-teacher-label`` code.
        :param calculator: ``{'calculator': 'package.module:Name', 'parameters': {...}}``.
        :param structures: a dict of StructureData or a DatasetData (omitted inside the loop).
        :param options: ``metadata.options`` of every ``TeacherLabelCalculation``.
        """
        inputs = cls.get_protocol_inputs(protocol, overrides)
        builder = cls.get_builder()
        builder.teacher.code = code
        builder.teacher.calculator = orm.Dict(calculator)
        # Spelled out: a wrapper that exposes this work chain without populating defaults still gets them.
        builder.teacher.metadata.options = {
            'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1},
            'withmpi': False,
            **(options or {}),
        }
        if isinstance(structures, DatasetData):
            builder.dataset = structures
        elif structures:
            builder.structures = structures
        for key in ('max_concurrent', 'frames_per_job'):
            builder[key] = orm.Int(inputs[key])
        for key in ('max_force', 'max_net_force_per_atom', 'min_distance_ratio'):
            builder[key] = orm.Float(inputs[key])
        return builder

    def setup(self):
        """One dataset of the frames to label (structures are gathered by a calcfunction)."""
        if 'dataset' in self.inputs:
            self.ctx.frames = self.inputs.dataset
        else:
            self.ctx.frames = structures_to_dataset(**self.inputs.structures)
        self.ctx.failures = {}
        self.ctx.labelled = {}

    def screen_frames(self):
        """Leave out frames whose atoms are closer than the minimum distance; batch the rest (calcfunction)."""
        frames = {
            atoms.info.get('frame_key', frame_key(index)): atoms
            for index, atoms in enumerate(self.ctx.frames.get_atoms())
        }
        self.ctx.failures = screening_failures(frames, self.inputs.min_distance_ratio.value)
        for key, record in self.ctx.failures.items():
            self.report(f'frame {key} not labelled: {record["reason"]}')
        self.ctx.num_frames = len(frames)
        self.ctx.batches = {}
        if len(self.ctx.failures) < len(frames):
            batches = batch_frames(self.ctx.frames, self.inputs.frames_per_job, orm.List(sorted(self.ctx.failures)))
            self.ctx.batches = dict(batches)
        self.report(
            f'{len(frames) - len(self.ctx.failures)} of {len(frames)} frames passed screening, '
            f'in {len(self.ctx.batches)} job(s)'
        )
        self.pool_start(sorted(self.ctx.batches))

    def pool_submit(self, name):
        """Submit the batch ``name`` as one ``TeacherLabelCalculation``."""
        inputs = AttributeDict(self.exposed_inputs(TeacherLabelCalculation, namespace='teacher'))
        inputs.frames = self.ctx.batches[name]
        inputs.metadata = AttributeDict(inputs.get('metadata', {}))
        inputs.metadata.call_link_label = f'teacher_{name}'
        return self.submit(TeacherLabelCalculation, **inputs)

    def pool_collect(self, name, node):
        """Keep a job's labelled frames; record the frames it could not label, and why."""
        keys = [atoms.info['frame_key'] for atoms in self.ctx.batches[name].get_atoms()]
        if 'failures' in node.outputs:
            for index, reason in node.outputs.failures.get_dict().items():
                self.ctx.failures[keys[int(index)]] = {
                    'stage': 'teacher',
                    'reason': reason,
                    'exit_status': node.exit_status,
                    'process_uuid': node.uuid,
                }
        if node.is_finished_ok and 'labelled' in node.outputs:
            self.ctx.labelled[f'labelled_{name}'] = node.outputs.labelled
            return
        if node.is_finished_ok:
            return
        reason = node.exit_message or f'process {node.process_state.value}'
        for key in keys:
            self.ctx.failures.setdefault(
                key,
                {'stage': 'teacher', 'reason': reason, 'exit_status': node.exit_status, 'process_uuid': node.uuid},
            )
        self.report(f'{name}: TeacherLabelCalculation<{node.pk}> failed ({node.exit_status}): {reason}')

    def collect_dataset(self):
        """Apply the force gates and build the dataset through a calcfunction, each frame tracing to its job."""
        results = build_teacher_dataset(
            settings=orm.Dict(teacher_settings(self.inputs.teacher.calculator.get_dict())),
            max_force=self.inputs.max_force,
            max_net_force_per_atom=self.inputs.max_net_force_per_atom,
            failures=orm.Dict(self.ctx.failures),
            **self.ctx.labelled,
        )
        return finish_labelling(self, results, self.ctx.num_frames)
