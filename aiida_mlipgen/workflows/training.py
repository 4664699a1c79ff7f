"""``TrainingWorkChain``: a committee of NequIP models that differ only by their seed, trained in parallel."""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import WorkChain
from aiida_quantumespresso.workflows.protocols.utils import ProtocolMixin

from aiida_mlipgen.calculations.committee_summary import summarise_committee
from aiida_mlipgen.calculations.nequip_train import validate_datasets, validate_split, validate_starting_point
from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.data.model import ModelData
from aiida_mlipgen.science.exit_codes import declare
from aiida_mlipgen.workflows.nequip_train_base import NequipTrainBaseWorkChain
from aiida_mlipgen.workflows.protocols import protocol_filepath

#: Calculation inputs set per member (or lifted to the committee), so not exposed under `train.nequip`.
_PER_MEMBER = ('training_dataset', 'validation_dataset', 'seed', 'parent_model', 'checkpoint', 'parent_folder')


def member_name(index: int) -> str:
    """Name of committee member ``index`` in the output namespaces: ``member_0``, ``member_1``, ..."""
    return f'member_{index}'


def validate_inputs(inputs, _) -> str | None:
    """Committee size and minimum, then the datasets and parents as every member's calculation will see them."""
    size = inputs['committee_size'].value if 'committee_size' in inputs else 4
    minimum = inputs['min_members'].value if 'min_members' in inputs else 2
    if size < 2:
        return f'a committee needs at least 2 members to measure disagreement, got `committee_size` {size}.'
    if not 1 <= minimum <= size:
        return f'`min_members` must lie between 1 and `committee_size` ({size}), got {minimum}.'
    parents = inputs.get('parent_models', {})
    unknown = sorted(set(parents) - {member_name(index) for index in range(size)})
    if unknown:
        return f'`parent_models` has keys {unknown} that are not members of a committee of {size}.'

    nequip = dict(inputs.get('train', {}).get('nequip', {}))
    for key in ('training_dataset', 'validation_dataset'):
        if key in inputs:
            nequip[key] = inputs[key]
    message = validate_datasets(nequip) or validate_split(nequip) or validate_starting_point(nequip)
    if message:
        return message
    for name, parent in parents.items():
        message = validate_starting_point(dict(nequip, parent_model=parent))
        if message:
            return f'{name}: {message}'
    return None


class TrainingWorkChain(ProtocolMixin, WorkChain):
    """Train a committee of ``committee_size`` NequIP models that differ only by seed (member k: seed + k).

    All members are submitted at once, each through ``NequipTrainBaseWorkChain`` (restarts after
    walltime, NaN loss, out of memory). Members that fail for good are reported and left out; the
    committee succeeds if at least ``min_members`` finish.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(
            NequipTrainBaseWorkChain,
            namespace='train',
            exclude=tuple(f'nequip.{name}' for name in _PER_MEMBER),
            namespace_options={
                'help': "Inputs of every member's `NequipTrainBaseWorkChain`; datasets, seeds and parents are set "
                'per member.'
            },
        )
        spec.input('training_dataset', valid_type=DatasetData, help='Labelled frames every member trains on.')
        spec.input(
            'validation_dataset',
            valid_type=DatasetData,
            required=False,
            help='Labelled frames every member validates on; or set `train.nequip.validation_fraction`.',
        )
        spec.input(
            'committee_size',
            valid_type=orm.Int,
            default=lambda: orm.Int(4),
            help='Number of members (at least 2: disagreement needs two).',
        )
        spec.input(
            'min_members',
            valid_type=orm.Int,
            default=lambda: orm.Int(2),
            help='Fewest members that must finish for the committee to count as trained.',
        )
        spec.input(
            'seed',
            valid_type=orm.Int,
            default=lambda: orm.Int(1),
            help='Seed of the first member; member k uses seed + k.',
        )
        spec.input_namespace(
            'parent_models',
            valid_type=ModelData,
            dynamic=True,
            required=False,
            help='Warm start: per member (`member_0`, ...), a model to fine-tune; members without one start afresh.',
        )
        spec.inputs.validator = validate_inputs

        spec.output_namespace('models', valid_type=ModelData, dynamic=True, help='The packaged model of each member.')
        spec.output_namespace(
            'metrics', valid_type=orm.Dict, dynamic=True, help='Validation metrics of each member (units in keys).'
        )
        spec.output_namespace(
            'learning_curves', valid_type=orm.ArrayData, dynamic=True, help='Learning curve of each member.'
        )
        spec.output(
            'summary',
            valid_type=orm.Dict,
            help='Members finished and failed (with reasons), seeds, and mean/std/min/max of every metric.',
        )
        spec.outline(cls.run_members, cls.inspect_members, cls.results)
        declare(
            spec,
            'ERROR_TOO_FEW_MEMBERS',
            'Only {finished} of {size} members finished, fewer than `min_members` ({minimum}).',
        )

    @classmethod
    def get_protocol_filepath(cls):
        """Return the path of the protocol file."""
        return protocol_filepath('training')

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        training_dataset: DatasetData,
        validation_dataset: DatasetData | None = None,
        protocol: str | None = None,
        overrides: dict | None = None,
        **kwargs,
    ):
        """Return a builder with the protocol's inputs for a committee trained on ``training_dataset``.

        :param code: a ``nequip-train`` code (``mlipgen.nequip.train``).
        :param validation_dataset: frames to validate on; without it each member holds out the same
            ``train.nequip.validation_fraction`` of the training frames (same ``split_seed``).
        :param protocol: ``fast``, ``balanced`` (default) or ``stringent``; also chooses the protocol of
            ``NequipTrainBaseWorkChain``.
        :param overrides: dict overriding the protocol's inputs; ``overrides['train']`` goes to
            ``NequipTrainBaseWorkChain.get_builder_from_protocol``.
        """
        inputs = cls.get_protocol_inputs(protocol, overrides)
        train = NequipTrainBaseWorkChain.get_builder_from_protocol(
            code, training_dataset, validation_dataset, protocol=protocol, overrides=inputs.get('train'), **kwargs
        )
        for name in _PER_MEMBER:
            train.nequip.pop(name, None)
        builder = cls.get_builder()
        builder.train = train._inputs(prune=True)
        builder.training_dataset = training_dataset
        if validation_dataset is not None:
            builder.validation_dataset = validation_dataset
        builder.committee_size = orm.Int(inputs['committee_size'])
        builder.min_members = orm.Int(inputs['min_members'])
        builder.seed = orm.Int(inputs['seed'])
        return builder

    def _member_inputs(self, index: int) -> AttributeDict:
        inputs = AttributeDict(self.exposed_inputs(NequipTrainBaseWorkChain, 'train'))
        inputs.nequip = AttributeDict(inputs.nequip)
        inputs.nequip.training_dataset = self.inputs.training_dataset
        if 'validation_dataset' in self.inputs:
            inputs.nequip.validation_dataset = self.inputs.validation_dataset
        inputs.nequip.seed = orm.Int(self.inputs.seed.value + index)
        parent = self.inputs.get('parent_models', {}).get(member_name(index))
        if parent is not None:
            inputs.nequip.parent_model = parent
        inputs.metadata = {'call_link_label': member_name(index)}
        return inputs

    def run_members(self):
        """Submit every member at once."""
        for index in range(self.inputs.committee_size.value):
            name, seed = member_name(index), self.inputs.seed.value + index
            node = self.submit(NequipTrainBaseWorkChain, **self._member_inputs(index))
            self.report(f'{name}: launched {node.process_label}<{node.pk}> with seed {seed}')
            self.to_context(**{name: node})

    def inspect_members(self):
        """Keep the members that finished; fail if fewer than ``min_members`` did."""
        size = self.inputs.committee_size.value
        minimum = self.inputs.min_members.value
        self.ctx.finished, self.ctx.failed = [], {}
        for index in range(size):
            name = member_name(index)
            node = self.ctx[name]
            if node.is_finished_ok:
                self.ctx.finished.append(name)
            else:
                reason = f'{node.process_label}<{node.pk}> exit status {node.exit_status}: {node.exit_message}'
                self.ctx.failed[name] = reason
                self.report(f'{name} (seed {self.inputs.seed.value + index}) failed for good: {reason}')
        if len(self.ctx.finished) < minimum:
            self.report(f'only {len(self.ctx.finished)} of {size} members finished, fewer than min_members {minimum}')
            return self.exit_codes.ERROR_TOO_FEW_MEMBERS.format(
                finished=len(self.ctx.finished), size=size, minimum=minimum
            )
        if self.ctx.failed:
            self.report(
                f'continuing with {len(self.ctx.finished)} of {size} members (min_members {minimum}): '
                f'{", ".join(sorted(self.ctx.failed))} left out'
            )
        return None

    def results(self):
        """Attach each finished member's model, metrics and learning curve, and the committee summary."""
        metrics = {}
        for name in self.ctx.finished:
            outputs = self.ctx[name].outputs
            self.out(f'models.{name}', outputs.model)
            self.out(f'metrics.{name}', outputs.metrics)
            if 'learning_curve' in outputs:
                self.out(f'learning_curves.{name}', outputs.learning_curve)
            metrics[name] = outputs.metrics
        members = {
            'committee_size': self.inputs.committee_size.value,
            'min_members': self.inputs.min_members.value,
            'seeds': {member_name(k): self.inputs.seed.value + k for k in range(self.inputs.committee_size.value)},
            'finished': list(self.ctx.finished),
            'failed': dict(self.ctx.failed),
        }
        summary = summarise_committee(orm.Dict(members), **metrics)
        self.out('summary', summary)
        self.report(f'committee of {len(metrics)} members trained')
