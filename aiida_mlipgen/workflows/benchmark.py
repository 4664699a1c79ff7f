"""``BenchmarkWorkChain``: is a potential fit for use? Test-set errors, NVE stability, EOS and phonons vs DFT.

The model's side of every check runs in a ``ModelBenchmarkCalculation`` (``mlipgen-benchmark`` on the
compute node); the DFT side of the EOS and phonons in a ``LabellingWorkChain`` with the same labelling
inputs as the training data; each check's analysis is a calcfunction, so every metric traces back to both.
"""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain, if_
from aiida_quantumespresso.workflows.protocols.utils import ProtocolMixin

from aiida_mlipgen.calculations.benchmark import (
    collect_benchmark,
    eos_comparison,
    eos_frames,
    holdout_errors,
    nve_stability,
    phonon_comparison,
    phonon_displacements,
)
from aiida_mlipgen.calculations.model_benchmark import ModelBenchmarkCalculation
from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.data.model import ModelData
from aiida_mlipgen.science.contract import TrustLevels
from aiida_mlipgen.science.exit_codes import declare
from aiida_mlipgen.workflows.input_checks import check_structures
from aiida_mlipgen.workflows.labelling import LabellingWorkChain
from aiida_mlipgen.workflows.protocols import protocol_filepath

#: The keys each check's settings may hold.
CHECK_KEYS = {
    'test_errors': {'targets'},
    'nve': {
        'driver',
        'temperatures_K',
        'steps',
        'timestep_fs',
        'interval',
        'frame_interval',
        'seed',
        'min_distance_ratio',
        'max_force_deviation',
        'rdf_r_max',
        'rdf_bins',
        'adf_cutoff_A',
        'targets',
    },
    'eos': {'volume_changes_percent', 'targets'},
    'phonons': {'supercell_matrix', 'distance_A', 'band_points', 'mesh', 'targets'},
}
#: Keys of ``nve`` that go to the engine (the rest is analysis).
NVE_ENGINE_KEYS = (
    'temperatures_K',
    'steps',
    'timestep_fs',
    'interval',
    'frame_interval',
    'seed',
    'min_distance_ratio',
    'max_force_deviation',
)
#: Ports of ModelBenchmarkCalculation that the work chain fills in itself.
_MODEL_OWN = ('models', 'teacher', 'driver', 'frames', 'structures', 'nve')
#: Ports of LabellingWorkChain that the work chain fills in itself.
_DFT_OWN = ('structures', 'dataset', 'reference_dataset')


def validate_trust_levels(value: orm.Dict, _) -> str | None:
    """The trust levels (:class:`~aiida_mlipgen.science.contract.TrustLevels`), checked before anything runs."""
    try:
        TrustLevels.from_dict(value.get_dict())
    except ValueError as exception:
        return str(exception)
    return None


def _check_settings(name: str):
    def validator(value: orm.Dict, _) -> str | None:
        unknown = sorted(set(value.get_dict()) - CHECK_KEYS[name])
        if unknown:
            return f'`{name}` has unknown keys {unknown}; known: {sorted(CHECK_KEYS[name])}.'
        if name == 'eos' and len(value.get_dict().get('volume_changes_percent', [])) < 4:
            return '`eos.volume_changes_percent` needs at least 4 volumes for a Birch-Murnaghan fit.'
        if name == 'nve' and value.get_dict().get('driver', 'mean') not in ('mean', 'member0'):
            return '`nve.driver` must be `mean` or `member0`.'
        return None

    return validator


def dft_settings(dft_inputs) -> dict | None:
    """The DFT settings fingerprint of the ``dft`` inputs (as LabellingWorkChain records it), or None."""
    from aiida_mlipgen.workflows.labelling_inputs import settings_of_inputs

    if 'pw' not in dft_inputs or 'pseudos' not in dft_inputs or 'pw' not in dft_inputs['pw']:
        return None
    return settings_of_inputs(dft_inputs)


def validate_inputs(inputs, namespace) -> str | None:
    """One potential; what each requested check needs; DFT settings equal to those of the test sets.

    A wrapper that excludes the ports it fills itself (the active-learning loop: ``models``, ``test_datasets``,
    ``dft``) gets the other checks only.
    """
    filled_by_wrapper = not {'models', 'test_datasets', 'dft'} <= set(namespace)
    message = check_structures(inputs.get('reference_structures'), 'reference_structures')
    if message:
        return message
    if not filled_by_wrapper and bool(inputs.get('models')) == ('teacher' in inputs):
        return 'give the potential either as `models` (one or more) or as a `teacher`, not both or neither.'
    checks = [name for name in CHECK_KEYS if name in inputs]
    if not checks:
        return 'no check requested: give at least one of `test_errors`, `nve`, `eos`, `phonons`.'
    if filled_by_wrapper:
        if any(name in inputs for name in ('nve', 'eos', 'phonons')) and not inputs.get('reference_structures'):
            return '`nve`, `eos` and `phonons` need `reference_structures`.'
        return None
    if 'test_errors' in inputs:
        if not inputs.get('test_datasets'):
            return '`test_errors` needs `test_datasets`.'
        for name, dataset in inputs['test_datasets'].items():
            if not (dataset.base.attributes.get('has_energy') or dataset.base.attributes.get('has_forces')):
                return f'test set `{name}` has no labels to compare with.'
    if any(name in inputs for name in ('nve', 'eos', 'phonons')) and not inputs.get('reference_structures'):
        return '`nve`, `eos` and `phonons` need `reference_structures`.'
    if any(name in inputs for name in ('eos', 'phonons')) and not inputs.get('dft', {}).get('pw'):
        return '`eos` and `phonons` compare with DFT: give the labelling inputs in `dft`.'
    models = inputs.get('models') or {}
    if models:
        known = set.intersection(*(set(model.species) for model in models.values()))
        species = {s for d in (inputs.get('test_datasets') or {}).values() for s in d.species}
        species |= {k.symbol for s in (inputs.get('reference_structures') or {}).values() for k in s.kinds}
        unknown = sorted(species - known)
        if unknown:
            return f'the test sets or reference structures contain {unknown}, which the models do not know.'
    if 'dft' in inputs and any(name in inputs for name in ('eos', 'phonons')):
        from aiida_mlipgen.workflows.labelling_inputs import check_reference

        settings = dft_settings(inputs['dft'])
        for name, dataset in (inputs.get('test_datasets') or {}).items():
            if settings is not None and dataset.labelling_settings is not None:
                message = check_reference(settings, dataset.labelling_settings)
                if message:
                    return f'test set `{name}`: {message.replace("`reference_dataset`", "this test set")}'
    return None


class BenchmarkWorkChain(ProtocolMixin, WorkChain):
    """Benchmark a committee (or one model): test-set errors, NVE stability, equation of state and phonons.

    Each check runs when its settings are given, and reports its values against targets the user can
    change: ``metrics`` holds every check's numbers and pass/fail, ``arrays`` the data of every plot.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace(
            'models',
            valid_type=ModelData,
            dynamic=True,
            required=False,
            help='The potential: one packaged NequIP model, or a committee (its mean predicts).',
        )
        spec.input(
            'teacher',
            valid_type=orm.Str,
            required=False,
            help='A built-in teacher instead of models (`stillinger-weber-si`), e.g. to see how good it is vs DFT.',
        )
        spec.input_namespace(
            'test_datasets',
            valid_type=DatasetData,
            dynamic=True,
            required=False,
            help='Labelled held-out test sets, by name.',
        )
        spec.input_namespace(
            'reference_structures',
            valid_type=orm.StructureData,
            dynamic=True,
            required=False,
            help='Relaxed crystals, by name: NVE starts from them, EOS scales them, phonons displace their atoms.',
        )
        spec.input_namespace(
            'reference_frames',
            valid_type=DatasetData,
            dynamic=True,
            required=False,
            help='DFT-labelled frames of the same phase as a reference structure (same key): the NVE RDF is '
            'compared with theirs.',
        )
        spec.expose_inputs(
            ModelBenchmarkCalculation,
            namespace='model',
            exclude=_MODEL_OWN,
            namespace_options={'help': 'The `mlipgen-benchmark` code, device and job options.'},
        )
        spec.expose_inputs(
            LabellingWorkChain,
            namespace='dft',
            exclude=_DFT_OWN,
            namespace_options={
                'required': False,
                'populate_defaults': False,
                'help': 'DFT labelling inputs for the EOS and phonon references: those of the training data.',
            },
        )
        for name, help_text in (
            ('test_errors', 'Test-set errors: `targets` (RMSE bounds); the false negatives use `trust_levels`.'),
            (
                'nve',
                'NVE stability: driver, temperatures_K, steps, timestep_fs, interval, frame_interval, seed, '
                'min_distance_ratio, max_force_deviation (eV/A), rdf_r_max, rdf_bins, adf_cutoff_A, targets.',
            ),
            ('eos', 'Equation of state: volume_changes_percent and targets (relative errors of a0 and B0).'),
            ('phonons', 'Phonons: supercell_matrix, distance_A, band_points, mesh and targets (mae_THz).'),
        ):
            spec.input(name, valid_type=orm.Dict, required=False, validator=_check_settings(name), help=help_text)
        spec.input(
            'trust_levels',
            valid_type=orm.Dict,
            required=False,
            validator=validate_trust_levels,
            help='Trust levels of the committee (force_trust_lo, force_trust_hi in eV/A): frames below force_trust_lo '
            'are called accurate, for the false-negative rate of the test sets; default 0.05/0.15 (DP-GEN). The '
            'active-learning loop passes its own.',
        )
        spec.inputs.validator = validate_inputs

        spec.outline(
            cls.setup,
            cls.run_checks,
            cls.inspect_runs,
            if_(cls.should_run_test_errors)(cls.analyse_test_errors),
            if_(cls.should_run_nve)(cls.analyse_nve),
            if_(cls.should_run_eos)(cls.analyse_eos),
            if_(cls.should_run_phonons)(cls.analyse_phonons),
            cls.finalize,
        )
        spec.output('metrics', valid_type=orm.Dict, help="Every check's values, targets and pass/fail.")
        spec.output_namespace(
            'arrays',
            valid_type=orm.ArrayData,
            dynamic=True,
            help='Data of the plots, one per check: test_errors_<set> (parity, deviations), nve (traces, RDFs), '
            'eos_<structure> (E(V) and fits), phonons_<structure> (bands, DOS).',
        )
        spec.output_namespace(
            'check_metrics', valid_type=orm.Dict, dynamic=True, help="Each check's metrics, by check and set."
        )
        declare(spec, 'ERROR_SUB_PROCESS_FAILED_MODEL_RUN', 'The model run `{name}` failed: {message}')
        declare(spec, 'ERROR_SUB_PROCESS_FAILED_DFT', 'The DFT reference `{name}` failed: {message}')

    @classmethod
    def get_protocol_filepath(cls):
        """Return the path of the protocol file."""
        return protocol_filepath('benchmark')

    @classmethod
    def get_builder_from_protocol(
        cls,
        codes: dict[str, orm.AbstractCode],
        models: dict[str, ModelData] | None = None,
        test_datasets: dict[str, DatasetData] | None = None,
        reference_structures: dict[str, orm.StructureData] | None = None,
        protocol: str | None = None,
        overrides: dict | None = None,
        labelling_inputs: dict | None = None,
        pseudo_family: str = 'mlipgen/debian-pbe',
        checks: tuple[str, ...] | None = None,
        reference_frames: dict[str, DatasetData] | None = None,
        teacher: str | None = None,
    ):
        """Return a builder that benchmarks ``models`` with the protocol's checks.

        :param codes: ``benchmark`` (mlipgen-benchmark) and, for EOS and phonons, ``pw`` (pw.x).
        :param labelling_inputs: the ``LabellingWorkChain`` inputs the training data were labelled with
            (e.g. ``labelling_inputs_of(loop_node)``): the DFT references then use exactly those. Without
            them, ``LabellingWorkChain``'s protocol of the same name builds them.
        :param teacher: a built-in teacher (``stillinger-weber-si``) to benchmark instead of ``models``.
        :param checks: which checks to run (default: those the data allow: test errors with test sets,
            NVE with structures, EOS and phonons with structures and a ``pw`` code).
        """
        inputs = cls.get_protocol_inputs(protocol, overrides)
        builder = cls.get_builder()
        if models:
            builder.models = dict(models)
        if teacher is not None:
            builder.teacher = orm.Str(teacher)
        if test_datasets:
            builder.test_datasets = dict(test_datasets)
        if reference_structures:
            builder.reference_structures = dict(reference_structures)
        if reference_frames:
            builder.reference_frames = dict(reference_frames)
        builder.model.code = codes['benchmark']
        if checks is None:
            checks = ['test_errors'] if test_datasets else []
            if reference_structures:
                checks += ['nve'] + (['eos', 'phonons'] if 'pw' in codes or labelling_inputs else [])
        for name in checks:
            builder[name] = orm.Dict(inputs[name])
        if 'test_errors' in checks and inputs.get('trust_levels'):
            builder.trust_levels = orm.Dict(inputs['trust_levels'])
        if {'eos', 'phonons'} & set(checks):
            if labelling_inputs is not None:
                dft = {key: value for key, value in dict(labelling_inputs).items() if key not in _DFT_OWN}
            else:
                dft_builder = LabellingWorkChain.get_builder_from_protocol(
                    codes['pw'],
                    list(reference_structures.values()),
                    protocol=protocol,
                    overrides=inputs.get('dft'),
                    pseudo_family=pseudo_family,
                )
                dft = {key: value for key, value in dft_builder._inputs(prune=True).items() if key not in _DFT_OWN}
            builder.dft = dft
        return builder

    # -- steps ---------------------------------------------------------------------------------

    def setup(self):
        self.ctx.model_runs = []
        self.ctx.dft_runs = []
        self.ctx.check_metrics = {}
        self.ctx.arrays = {}

    def should_run_test_errors(self):
        return 'test_errors' in self.inputs

    def should_run_nve(self):
        return 'nve' in self.inputs

    def should_run_eos(self):
        return 'eos' in self.inputs

    def should_run_phonons(self):
        return 'phonons' in self.inputs

    def _model_inputs(self, name: str, driver: str = 'mean') -> AttributeDict:
        inputs = AttributeDict(self.exposed_inputs(ModelBenchmarkCalculation, namespace='model'))
        if 'teacher' in self.inputs:
            inputs.teacher = self.inputs.teacher
        else:
            inputs.models = dict(self.inputs.models)
        inputs.driver = orm.Str(driver)
        inputs.metadata = {**inputs.get('metadata', {}), 'call_link_label': f'model_{name}'}
        return inputs

    def _submit_model(self, name: str, **extra) -> dict:
        driver = extra.pop('driver', 'mean')
        inputs = self._model_inputs(name, driver)
        inputs.update(extra)
        node = self.submit(ModelBenchmarkCalculation, **inputs)
        self.ctx.model_runs.append(name)
        return {f'model_{name}': node}

    def _submit_dft(self, name: str, frames: DatasetData) -> dict:
        inputs = AttributeDict(self.exposed_inputs(LabellingWorkChain, namespace='dft'))
        inputs.dataset = frames
        inputs.metadata = {'call_link_label': f'dft_{name}'}
        node = self.submit(LabellingWorkChain, **inputs)
        self.ctx.dft_runs.append(name)
        return {f'dft_{name}': node}

    def run_checks(self):
        """Submit every model run and DFT reference at once; they do not depend on each other."""
        futures = {}
        for name, dataset in sorted((self.inputs.get('test_datasets') or {}).items()):
            futures.update(self._submit_model(f'test_{name}', frames=dataset))
        structures = dict(self.inputs.get('reference_structures') or {})
        if 'nve' in self.inputs:
            settings = self.inputs.nve.get_dict()
            engine = {key: settings[key] for key in NVE_ENGINE_KEYS if key in settings}
            futures.update(
                self._submit_model(
                    'nve', structures=structures, nve=orm.Dict(engine), driver=settings.get('driver', 'mean')
                )
            )
        self.ctx.eos_frames, self.ctx.phonon_frames = {}, {}
        for key, structure in sorted(structures.items()):
            if 'eos' in self.inputs:
                frames = eos_frames(structure, self.inputs.eos)
                self.ctx.eos_frames[key] = frames
                futures.update(self._submit_model(f'eos_{key}', frames=frames))
                futures.update(self._submit_dft(f'eos_{key}', frames))
            if 'phonons' in self.inputs:
                results = phonon_displacements(structure, self.inputs.phonons)
                self.ctx.phonon_frames[key] = results
                futures.update(self._submit_model(f'phonons_{key}', frames=results['frames']))
                futures.update(self._submit_dft(f'phonons_{key}', results['frames']))
        self.report(f'submitted {len(self.ctx.model_runs)} model runs and {len(self.ctx.dft_runs)} DFT references')
        return ToContext(**futures)

    def inspect_runs(self):
        """Stop on a failed model run or DFT reference: a check without its data means nothing."""
        for name in self.ctx.model_runs:
            node = self.ctx[f'model_{name}']
            if not node.is_finished_ok:
                return self.exit_codes.ERROR_SUB_PROCESS_FAILED_MODEL_RUN.format(
                    name=name, message=node.exit_message or node.process_state.value
                )
        for name in self.ctx.dft_runs:
            node = self.ctx[f'dft_{name}']
            if not node.is_finished_ok:
                return self.exit_codes.ERROR_SUB_PROCESS_FAILED_DFT.format(
                    name=name, message=node.exit_message or node.process_state.value
                )
        return None

    def analyse_test_errors(self):
        for name in sorted(self.inputs.test_datasets):
            shared = {'trust_levels': self.inputs.trust_levels} if 'trust_levels' in self.inputs else {}
            predictions = self.ctx[f'model_test_{name}'].outputs.predictions
            results = holdout_errors(predictions, self.inputs.test_errors, **shared)
            self._keep(f'test_errors_{name}', results)

    def analyse_nve(self):
        outputs = self.ctx.model_nve.outputs
        frames = {'nve_frames': outputs.nve_frames} if 'nve_frames' in outputs else {}
        references = dict(self.inputs.get('reference_frames') or {})
        results = nve_stability(outputs.nve, self.inputs.nve, **frames, **references)
        self._keep('nve', results)

    def analyse_eos(self):
        for key in sorted(self.ctx.eos_frames):
            results = eos_comparison(
                self.ctx[f'model_eos_{key}'].outputs.predictions,
                self.ctx[f'dft_eos_{key}'].outputs.dataset,
                self.inputs.eos,
            )
            self._keep(f'eos_{key}', results)

    def analyse_phonons(self):
        for key, displaced in sorted(self.ctx.phonon_frames.items()):
            results = phonon_comparison(
                self.inputs.reference_structures[key],
                displaced['displacements'],
                self.ctx[f'model_phonons_{key}'].outputs.predictions,
                self.ctx[f'dft_phonons_{key}'].outputs.dataset,
                self.inputs.phonons,
            )
            self._keep(f'phonons_{key}', results)

    def _keep(self, name: str, results: dict):
        self.ctx.check_metrics[name] = results['metrics']
        self.ctx.arrays[name] = results['arrays']
        passed = results['metrics'].get('passed')
        self.report(f'{name}: {"passed" if passed else "FAILED"}')

    def finalize(self):
        metrics = collect_benchmark(**self.ctx.check_metrics)
        self.out('metrics', metrics)
        self.out('check_metrics', self.ctx.check_metrics)
        self.out('arrays', self.ctx.arrays)
        failed = [name for name, ok in metrics['passed'].items() if not ok]
        self.report(f'benchmark done: {"all checks passed" if not failed else "failed: " + ", ".join(failed)}')


def labelling_inputs_of(process: orm.ProcessNode, namespace: str = 'label') -> dict:
    """The ``LabellingWorkChain`` inputs a finished process (e.g. an ``ActiveLearningWorkChain``) was given.

    Pass them as ``labelling_inputs`` to :meth:`BenchmarkWorkChain.get_builder_from_protocol` so that the
    DFT references use exactly the training data's settings.
    """
    from aiida.common.links import LinkType

    nested = process.base.links.get_incoming(link_type=(LinkType.INPUT_WORK, LinkType.INPUT_CALC)).nested()
    if namespace not in nested:
        raise ValueError(f'{process.process_label}<{process.pk}> has no `{namespace}` inputs')
    inputs = nested[namespace]
    # Job options are not stored as input nodes: take them from a pw.x run the process made.
    calculations = [node for node in process.called_descendants if node.process_type == PW_PROCESS_TYPE]
    if calculations and 'pw' in inputs and 'pw' in inputs['pw']:
        options = calculations[0].get_options()
        kept = {key: value for key, value in options.items() if key in JOB_OPTIONS and value is not None}
        inputs['pw']['pw']['metadata'] = {'options': kept}
    return inputs


PW_PROCESS_TYPE = 'aiida.calculations:quantumespresso.pw'
#: Job options worth carrying over from the training data's pw.x runs to the DFT references.
JOB_OPTIONS = (
    'resources',
    'max_wallclock_seconds',
    'withmpi',
    'mpirun_extra_params',
    'custom_scheduler_commands',
    'queue_name',
    'account',
    'qos',
    'prepend_text',
    'append_text',
    'max_memory_kb',
    'environment_variables',
)
