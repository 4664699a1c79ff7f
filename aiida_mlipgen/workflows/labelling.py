"""``LabellingWorkChain``: DFT labels (energy, forces, stress) for a set of structures with Quantum ESPRESSO."""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import while_
from aiida.plugins import DataFactory, WorkflowFactory
from aiida_quantumespresso.workflows.protocols.utils import ProtocolMixin, recursive_merge

from aiida_mlipgen.calculations.dataset_conversion import dataset_to_structures
from aiida_mlipgen.calculations.labelled_dataset import TRAJECTORY_PREFIX, build_labelled_dataset
from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.workflows.job_pool import JobPoolWorkChain
from aiida_mlipgen.workflows.labelling_inputs import (
    check_explicit_mesh,
    check_parameters,
    check_pseudos,
    check_reference,
    parameters_for_frame,
    settings_of_inputs,
)
from aiida_mlipgen.workflows.labelling_ports import (
    check_frame_source,
    define_labeller_ports,
    finish_labelling,
    screening_failures,
)
from aiida_mlipgen.workflows.protocols import protocol_filepath

PwBaseWorkChain = WorkflowFactory('quantumespresso.pw.base')
UpfData = DataFactory('pseudo.upf')


def _frames_of(inputs) -> list[orm.StructureData]:
    if 'dataset' in inputs:
        return inputs['dataset'].get_structures()
    return list(inputs.get('structures', {}).values())


def validate_inputs(inputs, namespace):
    """Refuse, before anything runs, inputs that cannot give a clean and consistent training set.

    A wrapper that excludes the frame ports (it sets the frames itself) still gets the check of the pw.x
    parameters here; it checks the pseudopotentials against its own frames (as the loop does).
    """
    has_frame_ports = 'dataset' in namespace and 'structures' in namespace
    if has_frame_ports:
        message = check_frame_source(inputs)
        if message:
            return message
    parameters = inputs.get('pw', {}).get('pw', {}).get('parameters')
    if parameters is None or 'pseudos' not in inputs:
        return None  # a wrapper excluded these ports: it validates them itself
    message = check_parameters(parameters.get_dict())
    if message:
        return message
    if not has_frame_ports:
        return None
    frames = _frames_of(inputs)
    if not frames:
        return 'there are no frames to label.'
    elements = {kind.symbol for frame in frames for kind in frame.kinds}
    message = check_pseudos(elements, inputs['pseudos'])
    if message:
        return message
    if 'kpoints' in inputs['pw']:
        message = check_explicit_mesh(frames)
        if message:
            return message
    reference = inputs.get('reference_dataset')
    if reference is not None:
        return check_reference(settings_of_inputs(inputs), reference.labelling_settings)
    return None


class LabellingWorkChain(ProtocolMixin, JobPoolWorkChain):
    """Label frames with one ``PwBaseWorkChain`` each, identical DFT settings for all, and quality gates.

    Frames with atoms too close are not submitted; runs that fail for good (SCF not converged after the
    restarts, walltime, ...) and frames failing the force gates are recorded in ``failures`` and never
    enter ``dataset``. Partial success finishes OK; all frames failing is an error.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(
            PwBaseWorkChain,
            namespace='pw',
            exclude=('pw.structure', 'pw.pseudos'),
            namespace_options={'help': 'Inputs of the `PwBaseWorkChain` run for every frame, identical for all.'},
        )
        spec.input_namespace(
            'pseudos',
            valid_type=UpfData,
            dynamic=True,
            help='One pseudopotential per element symbol, covering every element of every frame.',
        )
        define_labeller_ports(spec, max_concurrent=4, max_concurrent_help='Most DFT runs in flight at once.')
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
        return protocol_filepath('labelling')

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        structures: dict[str, orm.StructureData] | list[orm.StructureData] | DatasetData,
        protocol: str | None = None,
        overrides: dict | None = None,
        pseudo_family: str = 'mlipgen/debian-pbe',
        options: dict | None = None,
        **kwargs,
    ):
        """Return a builder with the protocol's inputs for labelling ``structures`` with ``code`` (pw.x).

        :param structures: a dict or list of StructureData, or an unlabelled DatasetData.
        :param protocol: ``fast``, ``balanced`` (default) or ``stringent``; also chooses aiida-quantumespresso's
            protocol of the same name for the ``PwBaseWorkChain`` inputs.
        :param overrides: dict overriding the protocol's inputs; ``overrides['pw']`` goes to
            ``PwBaseWorkChain.get_builder_from_protocol``.
        :param pseudo_family: label of an aiida-pseudo family with recommended cutoffs.
        :param options: ``metadata.options`` of every ``PwCalculation`` (resources, walltime, ...).
        :param kwargs: passed to ``PwBaseWorkChain.get_builder_from_protocol`` (e.g. ``electronic_type``).
        """
        from aiida_pseudo.groups.mixins import RecommendedCutoffMixin

        inputs = cls.get_protocol_inputs(protocol, overrides)
        builder = cls.get_builder()

        if isinstance(structures, DatasetData):
            builder.dataset = structures
            frames = structures.get_structures()
        else:
            named = (
                structures
                if isinstance(structures, dict)
                else {f'frame_{index:05d}': structure for index, structure in enumerate(structures)}
            )
            builder.structures = named
            frames = list(named.values())
        if not frames:
            raise ValueError('there are no structures to label.')

        family = orm.load_group(pseudo_family)
        elements = sorted({kind.symbol for frame in frames for kind in frame.kinds})
        message = check_pseudos(set(elements), {element: None for element in family.elements})
        if message:
            raise ValueError(f'pseudo family `{pseudo_family}`: {message}')
        pw_overrides = inputs.get('pw', {})
        system = pw_overrides.get('pw', {}).get('parameters', {}).get('SYSTEM', {})
        if not {'ecutwfc', 'ecutrho'} <= set(system):
            if not isinstance(family, RecommendedCutoffMixin):
                raise ValueError(f'pseudo family `{pseudo_family}` recommends no cutoffs: give ecutwfc and ecutrho.')
            # The largest recommendation over all elements of all frames: one pair of cutoffs for every frame.
            ecutwfc, ecutrho = family.get_recommended_cutoffs(
                elements=tuple(elements), stringency=inputs['cutoff_stringency'], unit='Ry'
            )
            pw_overrides = recursive_merge(
                pw_overrides, {'pw': {'parameters': {'SYSTEM': {'ecutwfc': ecutwfc, 'ecutrho': ecutrho}}}}
            )
        pw_overrides = recursive_merge(pw_overrides, {'pseudo_family': family.label})

        # aiida-quantumespresso scales conv_thr with the number of atoms of the structure it is given: use the
        # smallest frame so that every frame is converged at least as tightly per atom.
        smallest = min(frames, key=lambda frame: len(frame.sites))
        pw_builder = PwBaseWorkChain.get_builder_from_protocol(
            code, smallest, protocol=protocol, overrides=pw_overrides, options=options, **kwargs
        )
        pw_builder.pw.pop('structure', None)
        pw_builder.pw.pop('pseudos', None)
        builder.pw = pw_builder._inputs(prune=True)
        builder.pw.on_unhandled_failure = orm.Str(inputs['on_unhandled_failure'])
        builder.pseudos = family.get_pseudos(elements=tuple(elements))
        for key in ('max_concurrent', 'max_force', 'max_net_force_per_atom', 'min_distance_ratio'):
            value_type = orm.Int if key == 'max_concurrent' else orm.Float
            builder[key] = value_type(inputs[key])
        return builder

    def setup(self):
        """Gather the frames to label, keyed by name."""
        if 'dataset' in self.inputs:
            self.ctx.frames = dict(dataset_to_structures(self.inputs.dataset))
        else:
            self.ctx.frames = dict(self.inputs.structures)
        self.ctx.failures = {}
        self.ctx.trajectories = {}

    def screen_frames(self):
        """Leave out frames whose atoms are closer than the minimum distance: DFT on them is wasted."""
        atoms = {key: structure.get_ase() for key, structure in self.ctx.frames.items()}
        self.ctx.failures = screening_failures(atoms, self.inputs.min_distance_ratio.value)
        for key, record in self.ctx.failures.items():
            self.report(f'frame {key} not submitted: {record["reason"]}')
        passed = [key for key in sorted(self.ctx.frames) if key not in self.ctx.failures]
        self.report(
            f'{len(passed)} of {len(self.ctx.frames)} frames passed screening; '
            f'at most {self.pool_size()} DFT runs at once'
        )
        self.pool_start(passed)

    def pool_submit(self, key):
        """Submit the DFT run of frame ``key`` through its own ``PwBaseWorkChain``."""
        structure = self.ctx.frames[key]
        inputs = AttributeDict(self.exposed_inputs(PwBaseWorkChain, namespace='pw'))
        inputs.pw.structure = structure
        inputs.pw.pseudos = {kind.name: self.inputs.pseudos[kind.symbol] for kind in structure.kinds}
        electrons = sum(inputs.pw.pseudos[site.kind_name].z_valence for site in structure.sites)
        shared = inputs.pw.parameters.get_dict()
        parameters = parameters_for_frame(shared, electrons)
        if parameters != shared:
            inputs.pw.parameters = orm.Dict(parameters)
        inputs.metadata.call_link_label = f'label_{key}'
        return self.submit(PwBaseWorkChain, **inputs)

    def pool_collect(self, key, node):
        """Keep the trajectory of a run that finished well; record why another failed."""
        if node.is_finished_ok and 'output_trajectory' in node.outputs:
            self.ctx.trajectories[key] = node.outputs.output_trajectory
            return
        reason = node.exit_message or f'process {node.process_state.value}'
        self.ctx.failures[key] = {
            'stage': 'dft',
            'reason': reason,
            'exit_status': node.exit_status,
            'process_uuid': node.uuid,
        }
        self.report(f'frame {key}: PwBaseWorkChain<{node.pk}> failed ({node.exit_status}): {reason}')

    def collect_dataset(self):
        """Build the dataset from the successful runs through a calcfunction, so each frame traces to its run."""
        results = build_labelled_dataset(
            settings=orm.Dict(settings_of_inputs(self.inputs)),
            max_force=self.inputs.max_force,
            max_net_force_per_atom=self.inputs.max_net_force_per_atom,
            failures=orm.Dict(self.ctx.failures),
            **({'source': self.inputs.dataset} if 'dataset' in self.inputs else {}),
            **{f'{TRAJECTORY_PREFIX}{key}': trajectory for key, trajectory in self.ctx.trajectories.items()},
        )
        return finish_labelling(self, results, len(self.ctx.frames))
