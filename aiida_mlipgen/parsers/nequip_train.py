"""Parser of ``NequipTrainCalculation`` (``mlipgen.nequip.train``): files to nodes, failures to exit codes."""

from __future__ import annotations

from pathlib import Path

import yaml
from aiida import orm
from aiida.engine import ExitCode
from aiida.parsers import Parser

from aiida_mlipgen.data.model import ModelData
from aiida_mlipgen.parsers.nequip_logs import (
    TrainingOutcome,
    final_validation_metrics,
    non_finite_loss_epochs,
    read_learning_curve,
    training_status,
)


class NequipTrainParser(Parser):
    """Attach the learning curve, the config and the last checkpoint whatever happened, then the model.

    Failures map to the calculation's exit codes: out of memory (420), non-finite loss (410), out of
    walltime (400, a clean stop by ``trainer.max_time`` or a scheduler kill), a crash (303), missing
    files (302). The checkpoint is attached before a failure is returned, so a restart can use it.
    """

    def _text(self, name: str) -> str:
        """Content of a retrieved file, or '' if it was not retrieved."""
        if name not in self.retrieved.base.repository.list_object_names():
            return ''
        return self.retrieved.base.repository.get_object_content(name, mode='r')

    def _config(self) -> dict:
        """The config that ran (Hydra's composed copy with the command-line overrides), else the input file."""
        calculation = self.node.process_class
        text = self._text(Path(calculation.HYDRA_CONFIG).name)
        if not text:
            text = self.node.base.repository.get_object_content(calculation.CONFIG_FILE, mode='r')
        return yaml.safe_load(text)

    def parse(self, **kwargs) -> ExitCode | None:
        """Parse the retrieved files and those retrieved temporarily (model, compiled model, checkpoint)."""
        calculation = self.node.process_class
        temporary = Path(kwargs.get('retrieved_temporary_folder') or '/nonexistent')
        config = self._config()
        self.out('config', orm.Dict(config))

        csv_text = self._text(Path(calculation.METRICS_CSV).name)
        curve = read_learning_curve(csv_text) if csv_text else None
        if curve is not None and curve['epoch'].size:
            self.out('learning_curve', orm.ArrayData(curve))
        checkpoint = temporary / Path(calculation.LAST_CHECKPOINT).name
        if checkpoint.is_file():
            self.out('checkpoint', orm.SinglefileData(checkpoint))

        exit_code = self._failure(curve, csv_text)
        if exit_code is not None:
            return exit_code

        try:
            if curve is None:
                raise ValueError('nequip-train wrote no metrics log')
            metrics = final_validation_metrics(curve)
        except ValueError as exception:
            return self.exit_codes.ERROR_NO_VALIDATION_METRICS.format(message=str(exception))
        model_file = temporary / calculation.MODEL_FILE
        if not model_file.is_file():
            return self.exit_codes.ERROR_OUTPUT_FILES_MISSING.format(files=calculation.MODEL_FILE)
        self.out(
            'model',
            ModelData(
                model_file,
                cutoff=float(config['cutoff_radius']),
                species=list(config['model_type_names']),
                config=config,
                training_dataset_uuid=self.node.inputs.training_dataset.uuid,
            ),
        )
        self.out('metrics', orm.Dict(metrics))
        if 'compile_target' in self.node.inputs:
            compiled = temporary / calculation.COMPILED_FILE
            if not compiled.is_file():
                return self.exit_codes.ERROR_COMPILATION_FAILED
            self.out('compiled_model', orm.SinglefileData(compiled))
        return None

    def _failure(self, curve: dict | None, csv_text: str) -> ExitCode | None:
        """The exit code of a failed training, or None if it finished."""
        calculation = self.node.process_class
        status = training_status(self._text(Path(calculation.TRAIN_LOG).name), self._text(calculation.STDERR_FILE))
        scheduler_codes = calculation.exit_codes
        scheduler_status = self.node.exit_status
        if status.outcome is TrainingOutcome.OUT_OF_MEMORY:
            return self.exit_codes.ERROR_OUT_OF_MEMORY.format(message=status.message)
        if scheduler_status == scheduler_codes.ERROR_SCHEDULER_OUT_OF_MEMORY.status:
            return self.exit_codes.ERROR_OUT_OF_MEMORY.format(message='the scheduler reported it')
        bad_epochs = non_finite_loss_epochs(csv_text)
        if status.outcome is TrainingOutcome.NON_FINITE_LOSS or bad_epochs:
            where = f'epoch {bad_epochs[0]}' if bad_epochs else status.message
            return self.exit_codes.ERROR_NON_FINITE_LOSS.format(message=where)
        epochs = f'last logged epoch {int(curve["epoch"][-1])}' if curve is not None and curve['epoch'].size else ''
        if status.outcome is TrainingOutcome.TIME_LIMIT:
            message = ', '.join(part for part in (status.message, epochs) if part)
            return self.exit_codes.ERROR_OUT_OF_WALLTIME.format(message=message)
        if scheduler_status == scheduler_codes.ERROR_SCHEDULER_OUT_OF_WALLTIME.status:
            return self.exit_codes.ERROR_OUT_OF_WALLTIME.format(message=epochs or 'killed by the scheduler')
        if status.outcome in (TrainingOutcome.FAILED, TrainingOutcome.INCOMPLETE):
            return self.exit_codes.ERROR_TRAINING_FAILED.format(message=status.message)
        return None
