"""``NequipTrainBaseWorkChain``: run a ``NequipTrainCalculation`` and restart it after recoverable failures."""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import BaseRestartWorkChain, ProcessHandlerReport, process_handler, while_
from aiida_quantumespresso.workflows.protocols.utils import ProtocolMixin

from aiida_mlipgen.calculations.nequip_config import hyperparameter_defaults
from aiida_mlipgen.calculations.nequip_train import NequipTrainCalculation
from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.science.exit_codes import declare
from aiida_mlipgen.workflows.protocols import protocol_filepath

#: Optional calculation inputs a protocol or its overrides may set, with their node types.
_PLAIN_INPUTS = {
    'seed': orm.Int,
    'split_seed': orm.Int,
    'training_time_limit': orm.Int,
    'compile_target': orm.Str,
    'compile_device': orm.Str,
}


class NequipTrainBaseWorkChain(ProtocolMixin, BaseRestartWorkChain):
    """Train one NequIP model, restarting when the training stops for a reason a restart can fix.

    - out of walltime: resume from the last checkpoint (``++ckpt_path=``), wherever it stopped;
    - NaN or infinite loss: start again with half the learning rate;
    - out of memory: halve the batch size (resuming from the checkpoint if there is one).
    """

    _process_class = NequipTrainCalculation

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(
            NequipTrainCalculation,
            namespace='nequip',
            namespace_options={'help': 'Inputs of the `NequipTrainCalculation` that is run and restarted.'},
        )
        spec.expose_outputs(NequipTrainCalculation)
        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(
                cls.run_process,
                cls.inspect_process,
            ),
            cls.results,
        )
        declare(
            spec,
            'ERROR_NO_CHECKPOINT_TO_RESUME',
            'The training ran out of wall time before writing a checkpoint: give it more wall time.',
        )
        declare(
            spec,
            'ERROR_BATCH_SIZE_AT_MINIMUM',
            'The training ran out of memory with a batch size of one frame: it needs more memory.',
        )

    @classmethod
    def get_protocol_filepath(cls):
        """Return the path of the protocol file."""
        return protocol_filepath('nequip_train_base')

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        training_dataset: DatasetData,
        validation_dataset: DatasetData | None = None,
        protocol: str | None = None,
        overrides: dict | None = None,
        **_,
    ):
        """Return a builder with the protocol's inputs for training on ``training_dataset`` with ``code``.

        :param code: a ``nequip-train`` code (``mlipgen.nequip.train``).
        :param validation_dataset: frames to validate on; without it the protocol's ``validation_fraction``
            of the training frames is held out.
        :param protocol: ``fast``, ``balanced`` (default) or ``stringent``.
        :param overrides: dict overriding the protocol's inputs, nested as the inputs are (``nequip`` ...).
        """
        inputs = cls.get_protocol_inputs(protocol, overrides)
        nequip = inputs['nequip']
        builder = cls.get_builder()
        builder.nequip.code = code
        builder.nequip.training_dataset = training_dataset
        if validation_dataset is not None:
            builder.nequip.validation_dataset = validation_dataset
        else:
            builder.nequip.validation_fraction = orm.Float(nequip['validation_fraction'])
        builder.nequip.hyperparameters = orm.Dict(nequip['hyperparameters'])
        for key, node_type in _PLAIN_INPUTS.items():
            if key in nequip:
                builder.nequip[key] = node_type(nequip[key])
        options = cls.set_default_resources(nequip['metadata']['options'], code.computer.scheduler_type)
        builder.nequip.metadata.options = options
        builder.max_iterations = orm.Int(inputs['max_iterations'])
        builder.clean_workdir = orm.Bool(inputs['clean_workdir'])
        return builder

    def setup(self):
        """Take the calculation's inputs into the context, where the handlers change them."""
        super().setup()
        self.ctx.inputs = AttributeDict(self.exposed_inputs(NequipTrainCalculation, 'nequip'))

    def _hyperparameter(self, name: str):
        """The value the next calculation would use for hyperparameter ``name``."""
        return self.ctx.inputs.hyperparameters.get_dict().get(name, hyperparameter_defaults()[name])

    def _set_hyperparameter(self, name: str, value) -> None:
        hyperparameters = self.ctx.inputs.hyperparameters.get_dict()
        hyperparameters[name] = value
        self.ctx.inputs.hyperparameters = orm.Dict(hyperparameters)

    def _resume_from(self, checkpoint: orm.SinglefileData) -> None:
        self.ctx.inputs.checkpoint = checkpoint
        self.ctx.inputs.pop('parent_folder', None)

    def _start_afresh(self) -> None:
        """Drop the checkpoint being resumed (a warm start's parent stays)."""
        self.ctx.inputs.pop('checkpoint', None)
        self.ctx.inputs.pop('parent_folder', None)

    @process_handler(priority=600, exit_codes=[NequipTrainCalculation.exit_codes.ERROR_OUT_OF_MEMORY])
    def handle_out_of_memory(self, node):
        """Halve the batch size; resume from the checkpoint if one was written."""
        batch_size = self._hyperparameter('batch_size')
        if batch_size <= 1:
            self.report(f'{node.process_label}<{node.pk}> ran out of memory with one frame per batch')
            return ProcessHandlerReport(True, self.exit_codes.ERROR_BATCH_SIZE_AT_MINIMUM)
        self._set_hyperparameter('batch_size', batch_size // 2)
        if 'checkpoint' in node.outputs:
            self._resume_from(node.outputs.checkpoint)
        self.report(f'{node.process_label}<{node.pk}> ran out of memory: batch size {batch_size} -> {batch_size // 2}')
        return ProcessHandlerReport(True)

    @process_handler(priority=500, exit_codes=[NequipTrainCalculation.exit_codes.ERROR_NON_FINITE_LOSS])
    def handle_non_finite_loss(self, node):
        """Start again from the beginning (or the warm-start weights) with half the learning rate."""
        learning_rate = self._hyperparameter('learning_rate')
        self._set_hyperparameter('learning_rate', learning_rate / 2)
        self._start_afresh()
        self.report(
            f'{node.process_label}<{node.pk}> had a non-finite loss: restarting with learning rate '
            f'{learning_rate:g} -> {learning_rate / 2:g}'
        )
        return ProcessHandlerReport(True)

    @process_handler(priority=400, exit_codes=[NequipTrainCalculation.exit_codes.ERROR_OUT_OF_WALLTIME])
    def handle_out_of_walltime(self, node):
        """Resume from the last checkpoint the stopped training wrote."""
        if 'checkpoint' not in node.outputs:
            self.report(f'{node.process_label}<{node.pk}> ran out of wall time without writing a checkpoint')
            return ProcessHandlerReport(True, self.exit_codes.ERROR_NO_CHECKPOINT_TO_RESUME)
        self._resume_from(node.outputs.checkpoint)
        epoch = node.outputs.learning_curve.get_array('epoch')[-1] if 'learning_curve' in node.outputs else '?'
        self.report(f'{node.process_label}<{node.pk}> ran out of wall time in epoch {epoch}: resuming')
        return ProcessHandlerReport(True)
