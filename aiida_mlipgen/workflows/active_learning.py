"""``ActiveLearningWorkChain``: label -> train -> explore -> select, until converged, with the reason it stopped."""

from __future__ import annotations

import dataclasses

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain, if_, while_
from aiida_quantumespresso.workflows.protocols.utils import ProtocolMixin

from aiida_mlipgen.calculations.dataset_operations import generate_initial_set, merge_datasets, split_dataset
from aiida_mlipgen.calculations.evaluate import CommitteeEvaluateCalculation
from aiida_mlipgen.calculations.exploration_test import assess_exploration_test, draw_exploration_test
from aiida_mlipgen.calculations.loop_report import assemble_report, record_iteration, test_errors
from aiida_mlipgen.calculations.selection import select_candidates
from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.data.model import ModelData
from aiida_mlipgen.science import convergence
from aiida_mlipgen.science.calibration import adaptive_settings
from aiida_mlipgen.science.contract import TrustLevels
from aiida_mlipgen.science.exit_codes import declare
from aiida_mlipgen.science.exploration_test import ExplorationTestSettings
from aiida_mlipgen.science.splitting import shared_frames
from aiida_mlipgen.workflows.accounting import dft_calls, stage_accounting
from aiida_mlipgen.workflows.active_learning_checks import iteration_conditions
from aiida_mlipgen.workflows.active_learning_inputs import stopping_criteria, validate_inputs
from aiida_mlipgen.workflows.benchmark import BenchmarkWorkChain
from aiida_mlipgen.workflows.classical_sampling import ClassicalSamplingWorkChain
from aiida_mlipgen.workflows.exploration import ExplorationWorkChain
from aiida_mlipgen.workflows.labelling import LabellingWorkChain
from aiida_mlipgen.workflows.labelling_ports import FRAME_PORTS
from aiida_mlipgen.workflows.protocols import protocol_filepath
from aiida_mlipgen.workflows.teacher_labelling import TeacherLabellingWorkChain
from aiida_mlipgen.workflows.training import TrainingWorkChain

#: Inputs of the stages that the loop sets itself, iteration by iteration.
_LABEL_OWN = FRAME_PORTS
_TRAIN_OWN = ('training_dataset', 'validation_dataset', 'parent_models')
_EXPLORE_OWN = ('models', 'structures', 'trust_levels')
_EVALUATE_OWN = ('models', 'frames')


class ActiveLearningWorkChain(ProtocolMixin, WorkChain):
    """Build a training set by active learning until the committee is accurate everywhere it explores.

    Initial set (generated from seeds, optionally with classical MD frames) -> label -> split off a fixed
    held-out test set; then per iteration: train the committee (warm start, from scratch every K) ->
    test-set errors and exploration MD -> select candidates -> stop, or label them and merge. The stop
    reason is an output; every row of the iteration table is made by a calcfunction from the stages'
    outputs, and each iteration's nodes are put in the group ``<group_label>/iteration_NN``.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(
            LabellingWorkChain,
            namespace='label',
            exclude=_LABEL_OWN,
            namespace_options={
                'required': False,
                'populate_defaults': False,
                'help': 'DFT labelling with Quantum ESPRESSO, the same for every frame of every iteration. '
                'Give this or `teacher_label`.',
            },
        )
        spec.expose_inputs(
            TeacherLabellingWorkChain,
            namespace='teacher_label',
            exclude=_LABEL_OWN,
            namespace_options={
                'required': False,
                'populate_defaults': False,
                'help': 'Labelling with a teacher calculator (a classical potential or a large model) instead of '
                'DFT: distillation, or a cheap rehearsal of the loop. Give this or `label`.',
            },
        )
        spec.expose_inputs(
            TrainingWorkChain,
            namespace='train',
            exclude=_TRAIN_OWN,
            namespace_options={'help': 'Committee training (size, protocol, code).'},
        )
        spec.expose_inputs(
            ExplorationWorkChain,
            namespace='explore',
            exclude=_EXPLORE_OWN,
            namespace_options={'help': 'Exploration MD with the committee (conditions, code).'},
        )
        spec.expose_inputs(
            CommitteeEvaluateCalculation,
            namespace='evaluate',
            exclude=_EVALUATE_OWN,
            namespace_options={'help': 'Evaluation of the committee on the held-out test set (code, options).'},
        )
        spec.expose_inputs(
            ClassicalSamplingWorkChain,
            namespace='classical',
            exclude=('structures',),
            namespace_options={
                'required': False,
                'populate_defaults': False,
                'help': 'Optional classical MD of the seeds whose frames join the initial set.',
            },
        )
        spec.expose_inputs(
            BenchmarkWorkChain,
            namespace='benchmark',
            exclude=('models', 'test_datasets', 'dft', 'teacher', 'trust_levels'),
            namespace_options={
                'required': False,
                'populate_defaults': False,
                'help': 'Benchmark the final committee (and every `benchmark_every` iterations): the checks to run, '
                "reference structures and the mlipgen-benchmark code. The test sets are the loop's own; EOS and "
                'phonon references use the `label` settings.',
            },
        )
        spec.input(
            'benchmark_every',
            valid_type=orm.Int,
            default=lambda: orm.Int(0),
            help='With `benchmark`: also benchmark the committee every N-th iteration (0: only the final committee).',
        )
        spec.input_namespace(
            'seed_structures',
            valid_type=orm.StructureData,
            dynamic=True,
            required=False,
            help='Structures the initial set is generated from (new loop).',
        )
        spec.input(
            'initial_set',
            valid_type=orm.Dict,
            default=lambda: orm.Dict({}),
            help='Recipe of the initial set (InitialSetRecipe: supercell size, rattle amplitudes in A, strains).',
        )
        spec.input_namespace(
            'exploration_structures',
            valid_type=orm.StructureData,
            dynamic=True,
            required=False,
            help='Structures exploration MD starts from (default: the seed structures).',
        )
        spec.input(
            'training_dataset', valid_type=DatasetData, required=False, help='Continue: the training set so far.'
        )
        spec.input(
            'validation_dataset', valid_type=DatasetData, required=False, help='Continue: the validation set so far.'
        )
        spec.input(
            'test_dataset',
            valid_type=DatasetData,
            required=False,
            help='A fixed, labelled held-out test set; default: split off the labelled initial set.',
        )
        spec.input_namespace(
            'parent_models',
            valid_type=ModelData,
            dynamic=True,
            required=False,
            help='Continue: the committee to warm-start the first iteration from.',
        )
        spec.input(
            'exploration_test',
            valid_type=orm.Dict,
            default=lambda: orm.Dict({}),
            help='The exploration test set: `per_condition` frames drawn at random per exploration condition each '
            'iteration (0: none), more in the first iterations until it holds `min_frames`; `seed`. Labelled once, '
            'never trained on, counted in the DFT budget.',
        )
        spec.input(
            'exploration_test_dataset',
            valid_type=DatasetData,
            required=False,
            help='Continue: the labelled exploration test set of the loop being continued.',
        )
        spec.input(
            'adaptive_trust',
            valid_type=orm.Dict,
            default=lambda: orm.Dict({}),
            help='Fit the lower force trust level per exploration structure each iteration from the exploration test '
            'set (`enabled`, `target_error_eV_per_A` (default: the window hi), `max_false_negative_fraction`, '
            '`min_frames`, `floor_eV_per_A`); off: the fixed window of `selection`.',
        )
        spec.input(
            'split',
            valid_type=orm.Dict,
            default=lambda: orm.Dict({'train': 0.8, 'validation': 0.1, 'test': 0.1}),
            help='Fractions of the labelled initial set; new labels go to train/validation in the same ratio.',
        )
        spec.input('split_seed', valid_type=orm.Int, default=lambda: orm.Int(0), help='Seed of every split.')
        spec.input(
            'trust_levels',
            valid_type=orm.Dict,
            default=lambda: orm.Dict({}),
            help='The trust windows of the whole loop, handed to exploration (classes, early stop above '
            'force_trust_hi) and to selection: force_trust_lo/hi (eV/A, default 0.05/0.15, DP-GEN), optional '
            'energy_trust_lo/hi (eV/atom) and stress_trust_lo/hi (GPa).',
        )
        spec.input(
            'selection',
            valid_type=orm.Dict,
            default=lambda: orm.Dict({}),
            help='Parameters of select_candidates: max_selected, method, seed, duplicate_threshold, descriptor, '
            'descriptor_of.',
        )
        spec.input(
            'exploration_schedule',
            valid_type=orm.List,
            required=False,
            help='Per-iteration overrides of `explore.conditions` (e.g. rising temperatures); the last repeats.',
        )
        spec.input('max_iterations', valid_type=orm.Int, default=lambda: orm.Int(10), help='Iterations at most.')
        spec.input(
            'min_accurate_fraction',
            valid_type=orm.Float,
            default=lambda: orm.Float(0.9),
            help='Converged when the accurate fraction reaches this in every exploration condition (DPGEN2).',
        )
        spec.input(
            'target_force_rmse',
            valid_type=orm.Float,
            required=False,
            help='If set, convergence also needs the committee test force RMSE (eV/A) at or below this.',
        )
        spec.input('max_dft_calls', valid_type=orm.Int, required=False, help='DFT budget: frames sent to DFT.')
        spec.input('max_dft_core_hours', valid_type=orm.Float, required=False, help='DFT budget: core-hours of DFT.')
        spec.input(
            'retrain_from_scratch_every',
            valid_type=orm.Int,
            default=lambda: orm.Int(4),
            help='Every K-th iteration trains from scratch instead of warm-starting (0: always warm start).',
        )
        spec.input(
            'group_label',
            valid_type=orm.Str,
            required=False,
            help='Groups `<group_label>/iteration_NN` collect each iteration (default `mlipgen/al_<pk>`).',
        )
        spec.inputs.validator = validate_inputs

        spec.outline(
            cls.setup,
            if_(cls.should_build_initial_set)(
                cls.generate_initial_frames,
                cls.label_initial_set,
                cls.split_initial_set,
            ),
            while_(cls.should_iterate)(
                cls.train_committee,
                cls.inspect_training,
                cls.evaluate_and_explore,
                cls.select,
                if_(cls.has_exploration_test_frames)(
                    cls.label_exploration_test,
                    cls.merge_exploration_test,
                ),
                if_(cls.has_exploration_test_set)(
                    cls.evaluate_exploration_test,
                ),
                cls.decide,
                if_(cls.should_label)(
                    cls.label_candidates,
                    cls.merge_labels,
                ),
                cls.close_iteration,
                if_(cls.should_benchmark_iteration)(
                    cls.run_benchmark,
                    cls.inspect_benchmark,
                ),
            ),
            if_(cls.should_benchmark_final)(
                cls.run_benchmark,
                cls.inspect_benchmark,
            ),
            cls.finalize,
        )

        spec.output('training_dataset', valid_type=DatasetData, help='The final training set.')
        spec.output('validation_dataset', valid_type=DatasetData, required=False, help='The final validation set.')
        spec.output('test_dataset', valid_type=DatasetData, help='The fixed held-out test set.')
        spec.output(
            'exploration_test_dataset',
            valid_type=DatasetData,
            required=False,
            help='The exploration test set: frames drawn at random from every exploration, labelled, never trained on.',
        )
        spec.output_namespace('models', valid_type=ModelData, dynamic=True, help='The last trained committee.')
        spec.output(
            'iterations',
            valid_type=orm.Dict,
            required=False,
            help='The per-iteration table (`rows`) with the stop reason and its explanation.',
        )
        spec.output('stop_reason', valid_type=orm.Str, required=False, help='Why the loop stopped.')
        spec.output(
            'benchmark_metrics',
            valid_type=orm.Dict,
            required=False,
            help="The final committee's benchmark: every check's values, targets and pass/fail.",
        )
        declare(spec, 'ERROR_SUB_PROCESS_FAILED_INITIAL_LABELLING', 'The initial set could not be labelled: {message}')
        declare(
            spec,
            'ERROR_TEST_SET_OVERLAPS_TRAINING',
            'The test set shares {count} frame(s) with the training data: refusing to train on test frames.',
        )
        declare(spec, 'ERROR_SUB_PROCESS_FAILED_TRAINING', 'Committee training failed in iteration {iteration}.')
        declare(spec, 'ERROR_SUB_PROCESS_FAILED_EXPLORATION', 'Exploration failed in iteration {iteration}.')
        declare(spec, 'ERROR_SUB_PROCESS_FAILED_CLASSICAL_SAMPLING', 'Classical sampling of the seeds failed.')

    @classmethod
    def get_protocol_filepath(cls):
        """Return the path of the protocol file."""
        return protocol_filepath('active_learning')

    @classmethod
    def get_builder_from_protocol(
        cls,
        codes: dict[str, orm.AbstractCode],
        seed_structures: dict[str, orm.StructureData],
        protocol: str | None = None,
        overrides: dict | None = None,
        pseudo_family: str = 'mlipgen/debian-pbe',
        teacher: dict | None = None,
    ):
        """Return a builder for a loop from ``seed_structures`` with every stage built from its own protocol.

        :param codes: ``pw`` (pw.x) or, with a ``teacher``, ``teacher`` (mlipgen-teacher-label); ``train``
            (nequip-train), ``explore`` (mlipgen-explore) and ``evaluate`` (mlipgen-evaluate) codes.
        :param protocol: ``fast``, ``balanced`` (default) or ``stringent``, passed on to every stage.
        :param overrides: overrides of this protocol; ``label`` (or ``teacher_label``), ``train``, ``explore``
            and ``evaluate`` are handed to the stages' own builders.
        :param teacher: label with this teacher instead of DFT: ``{'calculator': 'package.module:Name',
            'parameters': {...}}`` (see ``TeacherLabellingWorkChain``).
        """
        from aiida_mlipgen.science.initial_set import InitialSetRecipe, initial_frames

        inputs = cls.get_protocol_inputs(protocol, overrides)
        labeller_code = 'teacher' if teacher is not None else 'pw'
        missing = sorted({labeller_code, 'train', 'explore', 'evaluate'} - set(codes))
        if missing:
            raise ValueError(f'codes missing for: {", ".join(missing)}')
        if not seed_structures:
            raise ValueError('an active-learning loop needs at least one seed structure')
        recipe = InitialSetRecipe.from_dict(inputs['initial_set'])
        # Stage builders want example data: the initial frames (unlabelled, never stored) stand in.
        examples = DatasetData(initial_frames([s.get_ase() for s in seed_structures.values()], recipe))

        builder = cls.get_builder()
        if teacher is not None:
            label = TeacherLabellingWorkChain.get_builder_from_protocol(
                codes['teacher'], teacher, protocol=protocol, overrides=inputs.get('teacher_label')
            )
        else:
            label = LabellingWorkChain.get_builder_from_protocol(
                codes['pw'], examples, protocol=protocol, overrides=inputs.get('label'), pseudo_family=pseudo_family
            )
        train = TrainingWorkChain.get_builder_from_protocol(
            codes['train'], examples, protocol=protocol, overrides=inputs.get('train')
        )
        explore = ExplorationWorkChain.get_builder_from_protocol(
            codes['explore'], None, dict(seed_structures), protocol=protocol, overrides=inputs.get('explore')
        )
        for stage, own in ((label, _LABEL_OWN), (train, _TRAIN_OWN), (explore, _EXPLORE_OWN)):
            for key in own:
                stage.pop(key, None)
        builder['teacher_label' if teacher is not None else 'label'] = label._inputs(prune=True)
        builder.train = train._inputs(prune=True)
        builder.explore = explore._inputs(prune=True)
        builder.evaluate = {'code': codes['evaluate'], **inputs.get('evaluate', {})}
        builder.seed_structures = seed_structures
        for key in ('initial_set', 'split', 'trust_levels', 'selection', 'exploration_test', 'adaptive_trust'):
            builder[key] = orm.Dict(inputs[key])
        if inputs.get('exploration_schedule'):
            builder.exploration_schedule = orm.List(inputs['exploration_schedule'])
        for key, node_type in (
            ('max_iterations', orm.Int),
            ('min_accurate_fraction', orm.Float),
            ('retrain_from_scratch_every', orm.Int),
            ('split_seed', orm.Int),
            ('max_dft_calls', orm.Int),
            ('max_dft_core_hours', orm.Float),
            ('target_force_rmse', orm.Float),
        ):
            if inputs.get(key) is not None:
                builder[key] = node_type(inputs[key])
        return builder

    # -- set-up and initial set ------------------------------------------------------------------

    def setup(self):
        """Take over the datasets and committee of a loop being continued; start the counters."""
        self.ctx.iteration = 0
        self.ctx.rows = {}
        self.ctx.dft_calls = 0
        self.ctx.dft_core_hours = 0.0
        self.ctx.stop = None
        self.ctx.models = dict(self.inputs.get('parent_models', {}))
        self.ctx.training = self.inputs.get('training_dataset')
        self.ctx.validation = self.inputs.get('validation_dataset')
        self.ctx.test = self.inputs.get('test_dataset')
        self.ctx.exploration_test = self.inputs.get('exploration_test_dataset')
        if self.ctx.training is not None:
            # Continuing: every new label is checked against the settings of the training set it joins.
            self.ctx.reference = self.ctx.training
        self.ctx.fitted_force_trust_lo = {}  # exploration structure -> fitted lower force level (eV/A), if adaptive
        self.ctx.exploration_structures = dict(
            self.inputs.get('exploration_structures') or self.inputs.get('seed_structures')
        )
        self.ctx.group_label = (
            self.inputs.group_label.value if 'group_label' in self.inputs else f'mlipgen/al_{self.node.pk}'
        )

    def should_build_initial_set(self):
        """A new loop (no training set given) starts by making and labelling an initial set."""
        return self.ctx.training is None

    def generate_initial_frames(self):
        """Supercells, rattled and strained copies of the seeds (calcfunction); classical MD frames if asked."""
        self.ctx.initial_frames = generate_initial_set(recipe=self.inputs.initial_set, **self.inputs.seed_structures)
        if 'classical' in self.inputs:
            inputs = AttributeDict(self.exposed_inputs(ClassicalSamplingWorkChain, namespace='classical'))
            inputs.structures = self.inputs.seed_structures
            inputs.metadata = {'call_link_label': 'classical_sampling'}
            return ToContext(classical=self.submit(ClassicalSamplingWorkChain, **inputs))
        return None

    def label_initial_set(self):
        """Label the initial frames (merged with the classical MD frames, if any)."""
        frames = self.ctx.initial_frames
        if 'classical' in self.ctx:
            if not self.ctx.classical.is_finished_ok:
                return self.exit_codes.ERROR_SUB_PROCESS_FAILED_CLASSICAL_SAMPLING
            frames = merge_datasets(generated=frames, classical=self.ctx.classical.outputs.dataset)
        process, inputs = self._labelling_inputs('label_initial_set')
        inputs.dataset = frames
        return ToContext(initial_labelling=self.submit(process, **inputs))

    def split_initial_set(self):
        """Split the labelled initial set into train / validation / test (no test part if a test set is given)."""
        labelling = self.ctx.initial_labelling
        self.ctx.dft_calls += dft_calls(labelling)
        self.ctx.dft_core_hours += stage_accounting(labelling)['core_hours']
        if 'dataset' not in labelling.outputs:
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_INITIAL_LABELLING.format(message=labelling.exit_message)
        self.ctx.reference = labelling.outputs.dataset
        fractions = self.inputs.split.get_dict()
        if self.ctx.test is not None:
            fractions = {'train': fractions['train'], 'validation': fractions['validation'], 'test': 0.0}
            total = fractions['train'] + fractions['validation']
            fractions = {key: value / total for key, value in fractions.items()}
        parts = split_dataset(labelling.outputs.dataset, orm.Dict(fractions), self.inputs.split_seed)
        self.ctx.training = parts['train']
        self.ctx.validation = parts.get('validation')
        if self.ctx.test is None:
            self.ctx.test = parts['test']
        else:
            shared = shared_frames(self.ctx.test.get_atoms(), labelling.outputs.dataset.get_atoms())
            if shared:
                return self.exit_codes.ERROR_TEST_SET_OVERLAPS_TRAINING.format(count=len(shared))
        self.report(
            f'initial set: {labelling.outputs.dataset.num_frames} labelled frames -> '
            f'train {self.ctx.training.num_frames}'
            f', validation {self.ctx.validation.num_frames if self.ctx.validation else 0}'
            f', test {self.ctx.test.num_frames}'
        )
        return None

    # -- one iteration ---------------------------------------------------------------------------

    def should_iterate(self):
        """Go on until a stopping rule fired."""
        return self.ctx.stop is None

    def train_committee(self):
        """Train the committee, warm-started from the previous one except every K-th iteration."""
        self.ctx.iteration += 1
        self.ctx.stages = {}
        self.ctx.exploration_test_evaluation = None
        iteration = self.ctx.iteration
        inputs = AttributeDict(self.exposed_inputs(TrainingWorkChain, namespace='train'))
        inputs.training_dataset = self.ctx.training
        inputs.train = AttributeDict(inputs.train)
        inputs.train.nequip = AttributeDict(inputs.train.nequip)
        if self.ctx.validation is not None:
            inputs.validation_dataset = self.ctx.validation
            inputs.train.nequip.pop('validation_fraction', None)  # the loop's own validation set instead
        elif 'validation_fraction' not in inputs.train.nequip:
            split = self.inputs.split.get_dict()
            inputs.train.nequip.validation_fraction = orm.Float(split['validation'] or 0.1)
        every = self.inputs.retrain_from_scratch_every.value
        from_scratch = not self.ctx.models or (every > 0 and iteration % every == 0)
        if not from_scratch:
            inputs.parent_models = self.ctx.models
        inputs.metadata = {'call_link_label': f'train_iteration_{iteration:02d}'}
        start = 'from scratch' if from_scratch else 'warm-started from the previous committee'
        self.report(f'iteration {iteration}: training on {self.ctx.training.num_frames} frames, {start}')
        return ToContext(training_run=self.submit(TrainingWorkChain, **inputs))

    def inspect_training(self):
        """Keep the new committee; a committee that failed ends the loop (datasets are still returned)."""
        node = self.ctx.training_run
        self.ctx.stages['train'] = node
        if not node.is_finished_ok:
            self._output_datasets()
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_TRAINING.format(iteration=self.ctx.iteration)
        self.ctx.models = dict(node.outputs.models)
        return None

    def evaluate_and_explore(self):
        """Test-set errors of the new committee and exploration MD with it, side by side."""
        iteration = self.ctx.iteration
        evaluate = AttributeDict(self.exposed_inputs(CommitteeEvaluateCalculation, namespace='evaluate'))
        evaluate.models = self.ctx.models
        evaluate.frames = self.ctx.test
        evaluate.metadata = AttributeDict(evaluate.get('metadata', {}))
        evaluate.metadata.call_link_label = f'test_iteration_{iteration:02d}'

        explore = AttributeDict(self.exposed_inputs(ExplorationWorkChain, namespace='explore'))
        explore.models = self.ctx.models
        explore.structures = self.ctx.exploration_structures
        conditions = explore.conditions.get_dict()
        schedule = self.inputs.exploration_schedule.get_list() if 'exploration_schedule' in self.inputs else []
        if schedule:
            conditions = iteration_conditions(conditions, schedule[min(iteration, len(schedule)) - 1])
        explore.conditions = orm.Dict(conditions)
        # One set of trust levels for the whole loop: exploration stops a run above the hi that selection uses.
        explore.trust_levels = self.inputs.trust_levels
        explore.metadata = {'call_link_label': f'explore_iteration_{iteration:02d}'}
        return ToContext(
            test_evaluation=self.submit(CommitteeEvaluateCalculation, **evaluate),
            exploration=self.submit(ExplorationWorkChain, **explore),
        )

    def select(self):
        """Pick candidates among the explored frames, and draw this iteration's exploration test frames."""
        self.ctx.stages['test'] = self.ctx.test_evaluation
        self.ctx.stages['explore'] = self.ctx.exploration
        if not self.ctx.exploration.is_finished_ok:
            self._output_datasets()
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_EXPLORATION.format(iteration=self.ctx.iteration)
        explored = self.ctx.exploration.outputs.frames
        test_settings = ExplorationTestSettings.from_dict(self.inputs.exploration_test.get_dict())
        existing = self.ctx.exploration_test.num_frames if self.ctx.exploration_test is not None else 0
        num_conditions = len({atoms.info['condition'] for atoms in explored.get_atoms()})
        per_condition = test_settings.frames_per_condition(existing, num_conditions)

        shared = {'trust_levels': self.inputs.trust_levels, 'min_accurate_fraction': self.inputs.min_accurate_fraction}
        if self.ctx.fitted_force_trust_lo:
            shared['force_trust_lo_per_structure'] = orm.Dict(dict(self.ctx.fitted_force_trust_lo))
        remaining = convergence.remaining_budget(self._criteria, self.ctx.dft_calls)
        if remaining is not None:
            per_condition = min(per_condition, remaining // max(num_conditions, 1))
            remaining -= per_condition * num_conditions
            if remaining > 0:
                shared['budget'] = orm.Int(remaining)
        self.ctx.selection = select_candidates(explored, self.inputs.selection, self.ctx.training, **shared)
        self.ctx.test_frames = None
        if per_condition > 0:
            drawn = draw_exploration_test(
                explored,
                orm.Dict({'per_condition': per_condition, 'seed': test_settings.seed + self.ctx.iteration}),
                **({'selected': self.ctx.selection['selected']} if 'selected' in self.ctx.selection else {}),
                **self._known_datasets(),
            )
            self.ctx.test_frames = drawn.get('frames')
        statistics = self.ctx.selection['statistics']
        overall = statistics['overall']
        self.report(
            f'iteration {self.ctx.iteration}: explored {statistics["num_frames"]} frames, accurate '
            f'{overall["accurate_fraction"]:.2f}, candidates {statistics["num_candidates"]}, selected '
            f'{statistics["num_selected"]}, held out for testing '
            f'{self.ctx.test_frames.num_frames if self.ctx.test_frames is not None else 0}; '
            f'fixed test force RMSE {self._test_metrics().get("forces_rmse_eV_per_A")} eV/A'
        )
        return None

    def has_exploration_test_frames(self):
        """Whether this iteration drew frames for the exploration test set."""
        return self.ctx.test_frames is not None

    def label_exploration_test(self):
        """Label the drawn test frames, with the same settings as every training label."""
        process, inputs = self._labelling_inputs(f'label_exploration_test_{self.ctx.iteration:02d}')
        inputs.dataset = self.ctx.test_frames
        if 'reference' in self.ctx:
            inputs.reference_dataset = self.ctx.reference
        return ToContext(test_labelling=self.submit(process, **inputs))

    def merge_exploration_test(self):
        """Add the new test labels to the exploration test set (frames that failed to label are left out)."""
        labelling = self.ctx.test_labelling
        self.ctx.stages['label_exploration_test'] = labelling
        self.ctx.dft_calls += dft_calls(labelling)
        self.ctx.dft_core_hours += stage_accounting(labelling)['core_hours']
        if 'dataset' in labelling.outputs:
            new = labelling.outputs.dataset
            self.ctx.exploration_test = (
                new
                if self.ctx.exploration_test is None
                else merge_datasets(a_previous=self.ctx.exploration_test, b_new=new)
            )

    def has_exploration_test_set(self):
        """Whether there are labelled exploration test frames to judge the committee on."""
        return self.ctx.exploration_test is not None

    def evaluate_exploration_test(self):
        """Evaluate the committee on the whole exploration test set."""
        evaluate = AttributeDict(self.exposed_inputs(CommitteeEvaluateCalculation, namespace='evaluate'))
        evaluate.models = self.ctx.models
        evaluate.frames = self.ctx.exploration_test
        evaluate.metadata = AttributeDict(evaluate.get('metadata', {}))
        evaluate.metadata.call_link_label = f'exploration_test_iteration_{self.ctx.iteration:02d}'
        return ToContext(exploration_test_evaluation=self.submit(CommitteeEvaluateCalculation, **evaluate))

    def decide(self):
        """Apply the stopping rules before labelling candidates, so the last committee is trained on the last set.

        The exploration test set's force RMSE stands for the test error when there is one; the fixed test
        set's otherwise. The adaptive trust levels for the next iteration are fitted here.
        """
        self.ctx.exploration_report = None
        evaluation = self.ctx.exploration_test_evaluation
        if evaluation is not None:
            self.ctx.stages['exploration_test'] = evaluation
        if evaluation is not None and evaluation.is_finished_ok:
            self.ctx.exploration_report = assess_exploration_test(
                evaluation.outputs.frames, orm.Dict(self._assessment_parameters())
            )
            fitted = self.ctx.exploration_report.get('fitted_force_trust_lo') or {}
            self.ctx.fitted_force_trust_lo = {name: level for name, level in fitted.items() if level is not None}
        test_rmse = (
            self.ctx.exploration_report['forces_rmse_eV_per_A']
            if self.ctx.exploration_report is not None and 'forces_rmse_eV_per_A' in self.ctx.exploration_report
            else self._test_metrics().get('forces_rmse_eV_per_A')
        )
        statistics = self.ctx.selection['statistics']
        self.ctx.stop = convergence.stop_before_labelling(
            self._criteria,
            accurate_everywhere=statistics['converged'],
            test_force_rmse=test_rmse,
            dft_calls=self.ctx.dft_calls,
            num_candidates=len(self.ctx.selection['structures']),
            dft_core_hours=self.ctx.dft_core_hours,
            iteration=self.ctx.iteration,
        )
        if self.ctx.exploration_report is not None:
            report = self.ctx.exploration_report
            self.report(
                f'iteration {self.ctx.iteration}: exploration test set of {report["num_frames"]} frames: force RMSE '
                f'{report.get("forces_rmse_eV_per_A")} eV/A, energy MAE {report.get("energy_mae_eV_per_atom")} '
                f'eV/atom, deviation-error Spearman {report.get("deviation_error_spearman")}, false negatives '
                f'{report["false_negatives"]}/{report["called_accurate"]}'
            )

    def should_label(self):
        """Label only when no stopping rule fired before labelling."""
        return self.ctx.stop is None

    def label_candidates(self):
        """Label the selected frames with the same settings as every earlier label."""
        process, inputs = self._labelling_inputs(f'label_iteration_{self.ctx.iteration:02d}')
        inputs.structures = self.ctx.selection['structures']
        if 'reference' in self.ctx:
            inputs.reference_dataset = self.ctx.reference
        return ToContext(labelling=self.submit(process, **inputs))

    def merge_labels(self):
        """Add the new labels to train and validation in the `split` ratio; the test set never changes."""
        labelling = self.ctx.labelling
        self.ctx.stages['label'] = labelling
        self.ctx.dft_calls += dft_calls(labelling)
        self.ctx.dft_core_hours += stage_accounting(labelling)['core_hours']
        if 'dataset' not in labelling.outputs:
            self.report(f'iteration {self.ctx.iteration}: no candidate could be labelled ({labelling.exit_message})')
            return
        new = labelling.outputs.dataset
        split = self.inputs.split.get_dict()
        validation_share = split['validation'] / (split['train'] + split['validation'])
        if self.ctx.validation is not None and int(validation_share * new.num_frames) >= 1:
            fractions = orm.Dict({'train': 1 - validation_share, 'validation': validation_share})
            parts = split_dataset(new, fractions, self.inputs.split_seed)
            self.ctx.validation = merge_datasets(a_previous=self.ctx.validation, b_new=parts['validation'])
            new = parts['train']
        self.ctx.training = merge_datasets(a_previous=self.ctx.training, b_new=new)

    def close_iteration(self):
        """Record the iteration's row (calcfunction), group its nodes, apply the after-labelling rules."""
        iteration = self.ctx.iteration
        labelling = self.ctx.stages.get('label')
        test_labelling = self.ctx.stages.get('label_exploration_test')
        accounting = {
            'iteration': iteration,
            'dft_calls': sum(dft_calls(node) for node in (labelling, test_labelling) if node is not None),
            'dft_calls_total': self.ctx.dft_calls,
            'dft_core_hours_total': round(self.ctx.dft_core_hours, 4),
            'stages': {name: stage_accounting(node) for name, node in self.ctx.stages.items()},
            'trust_window': {
                'force_trust_lo': self._window().lo,
                'force_trust_hi': self._window().hi,
                'force_trust_lo_per_structure': dict(
                    self.ctx.selection['statistics']['parameters'].get('force_trust_lo_per_structure', {})
                ),
            },
        }
        row_inputs = {
            'accounting': orm.Dict(accounting),
            'training_dataset': self.ctx.stages['train'].inputs.training_dataset,
            'training_summary': self.ctx.stages['train'].outputs.summary,
            'selection_statistics': self.ctx.selection['statistics'],
        }
        if 'metrics' in self.ctx.test_evaluation.outputs:
            row_inputs['test_metrics'] = self.ctx.test_evaluation.outputs.metrics
        if self.ctx.exploration_report is not None:
            row_inputs['exploration_test'] = self.ctx.exploration_report
        if labelling is not None:
            row_inputs['labelling_failures'] = labelling.outputs.failures
            if 'dataset' in labelling.outputs:
                row_inputs['labelled'] = labelling.outputs.dataset
        row = record_iteration(**row_inputs)
        self.ctx.rows[f'iteration_{iteration:02d}'] = row
        self._group_iteration(row)

    # -- the benchmark ---------------------------------------------------------------------------

    def should_benchmark_iteration(self):
        """Benchmark this iteration's committee when asked to every N iterations (the final one comes later)."""
        every = self.inputs.benchmark_every.value
        return 'benchmark' in self.inputs and self.ctx.stop is None and every > 0 and self.ctx.iteration % every == 0

    def should_benchmark_final(self):
        """Benchmark the final committee, unless it was just benchmarked."""
        return 'benchmark' in self.inputs and self.ctx.get('benchmarked_iteration') != self.ctx.iteration

    def run_benchmark(self):
        """Run ``BenchmarkWorkChain`` on the committee, with the loop's test sets and its own DFT settings."""
        inputs = AttributeDict(self.exposed_inputs(BenchmarkWorkChain, namespace='benchmark'))
        inputs.models = self.ctx.models
        inputs.test_datasets = {'fixed': self.ctx.test}
        inputs.trust_levels = self.inputs.trust_levels  # frames the loop calls accurate are the benchmark's too
        if self.ctx.exploration_test is not None:
            inputs.test_datasets['exploration'] = self.ctx.exploration_test
        if 'label' in self.inputs and ('eos' in inputs or 'phonons' in inputs):
            _, dft = self._labelling_inputs('benchmark_dft')
            dft.pop('metadata', None)
            inputs.dft = dft
        inputs.metadata = {'call_link_label': f'benchmark_iteration_{self.ctx.iteration:02d}'}
        self.report(f'iteration {self.ctx.iteration}: benchmarking the committee')
        return ToContext(benchmark=self.submit(BenchmarkWorkChain, **inputs))

    def inspect_benchmark(self):
        """Keep the benchmark's verdicts; a benchmark that fails to run does not undo the loop."""
        node = self.ctx.benchmark
        self.ctx.benchmarked_iteration = self.ctx.iteration
        if 'metrics' not in node.outputs:
            self.report(f'BenchmarkWorkChain<{node.pk}> gave no metrics ({node.exit_status}): {node.exit_message}')
            return
        self.ctx.benchmark_metrics = node.outputs.metrics
        verdicts = node.outputs.metrics['passed']
        self.report(
            f'iteration {self.ctx.iteration}: benchmark '
            + ', '.join(f'{name} {"passed" if ok else "FAILED"}' for name, ok in sorted(verdicts.items()))
        )

    # -- the end ---------------------------------------------------------------------------------

    def finalize(self):
        """The datasets, the last committee, the table and why the loop stopped."""
        message = convergence.describe_stop(
            self.ctx.stop, self._criteria, self.ctx.iteration, self.ctx.dft_calls, self.ctx.dft_core_hours
        )
        report = assemble_report(stop=orm.Dict({'reason': self.ctx.stop, 'message': message}), **self.ctx.rows)
        self._output_datasets()
        self.out_many({'models': self.ctx.models, **report})
        if self.ctx.get('benchmark_metrics') is not None:
            self.out('benchmark_metrics', self.ctx.benchmark_metrics)
        self.report(f'stopped after {self.ctx.iteration} iteration(s): {self.ctx.stop}: {message}')

    # -- helpers ---------------------------------------------------------------------------------

    @property
    def _criteria(self) -> convergence.StoppingCriteria:
        # Rebuilt from the inputs when needed: the context must hold only what checkpoints can store.
        return stopping_criteria(self.inputs)

    def _labelling_inputs(self, link_label: str) -> tuple[type, AttributeDict]:
        """The labeller the loop was given (DFT or teacher) and its inputs, without frames."""
        if 'teacher_label' in self.inputs:
            process, namespace = TeacherLabellingWorkChain, 'teacher_label'
        else:
            process, namespace = LabellingWorkChain, 'label'
        inputs = AttributeDict(self.exposed_inputs(process, namespace=namespace))
        inputs.metadata = {'call_link_label': link_label}
        return process, inputs

    def _known_datasets(self) -> dict[str, DatasetData]:
        """The labelled datasets the loop holds, by link label: exploration test frames must be new."""
        known = {
            'known_training': self.ctx.training,
            'known_validation': self.ctx.validation,
            'known_test': self.ctx.test,
            'known_exploration_test': self.ctx.exploration_test,
        }
        return {label: dataset for label, dataset in known.items() if dataset is not None}

    def _window(self):
        """The loop's fixed force trust window (eV/A), from ``trust_levels``."""
        return TrustLevels.from_dict(self.inputs.trust_levels.get_dict()).force

    def _assessment_parameters(self) -> dict:
        """The window this iteration used, and the adaptive settings to fit the next one."""
        window = self._window()
        adaptive = adaptive_settings(self.inputs.adaptive_trust.get_dict(), window.hi)
        return {
            'force_trust_lo': window.lo,
            'force_trust_hi': window.hi,
            'force_trust_lo_per_structure': dict(self.ctx.fitted_force_trust_lo),
            'adaptive': dataclasses.asdict(adaptive) if adaptive is not None else None,
        }

    def _test_metrics(self) -> dict:
        node = self.ctx.test_evaluation
        return test_errors(node.outputs.metrics.get_dict()) if 'metrics' in node.outputs else {}

    def _output_datasets(self):
        self.out('training_dataset', self.ctx.training)
        if self.ctx.validation is not None:
            self.out('validation_dataset', self.ctx.validation)
        self.out('test_dataset', self.ctx.test)
        if self.ctx.exploration_test is not None:
            self.out('exploration_test_dataset', self.ctx.exploration_test)

    def _group_iteration(self, row: orm.Dict):
        group, _ = orm.Group.collection.get_or_create(f'{self.ctx.group_label}/iteration_{self.ctx.iteration:02d}')
        nodes = [row, self.ctx.training, *self.ctx.models.values(), *self.ctx.stages.values()]
        nodes.append(self.ctx.selection['statistics'].creator)
        group.add_nodes([node for node in nodes if node is not None])
