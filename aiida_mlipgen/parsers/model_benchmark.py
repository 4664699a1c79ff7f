"""Parser of ``ModelBenchmarkCalculation`` (``mlipgen.benchmark.model``): files to nodes, failures to exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from aiida import orm
from aiida.engine import ExitCode
from aiida.parsers import Parser

from aiida_mlipgen.data.dataset import DatasetData

ENGINE_ERROR_PREFIX = 'mlipgen-benchmark: error:'


class ModelBenchmarkParser(Parser):
    """Attach the predicted frames, the NVE summary and NVE frames; map the engine's refusals to 301."""

    def _text(self, name: str) -> str | None:
        if name not in self.retrieved.base.repository.list_object_names():
            return None
        return self.retrieved.base.repository.get_object_content(name, mode='r')

    def parse(self, **kwargs) -> ExitCode | None:
        calculation = self.node.process_class
        stderr = self._text(calculation.STDERR_FILE) or ''
        for line in stderr.splitlines():
            if line.startswith(ENGINE_ERROR_PREFIX):
                return self.exit_codes.ERROR_INPUT_REFUSED.format(message=line[len(ENGINE_ERROR_PREFIX) :].strip())
        why = stderr.strip().splitlines()[-1] if stderr.strip() else f'see {calculation.STDOUT_FILE}'
        temporary = Path(kwargs.get('retrieved_temporary_folder') or '/nonexistent')

        if 'nve' in self.node.inputs:
            text = self._text(calculation.NVE_FILE)
            if text is None:
                return self.exit_codes.ERROR_OUTPUT_FILES_MISSING.format(filename=calculation.NVE_FILE, message=why)
            try:
                self.out('nve', orm.Dict(json.loads(text)))
            except json.JSONDecodeError as exception:
                return self.exit_codes.ERROR_OUTPUT_FILES_UNREADABLE.format(
                    filename=calculation.NVE_FILE, message=exception
                )
            frames_file = temporary / calculation.NVE_FRAMES_FILE
            if frames_file.is_file() and frames_file.stat().st_size:
                self.out('nve_frames', DatasetData(filepath=frames_file))

        if 'frames' in self.node.inputs:
            predictions = temporary / calculation.PREDICTIONS_FILE
            if not predictions.is_file():
                return self.exit_codes.ERROR_OUTPUT_FILES_MISSING.format(
                    filename=calculation.PREDICTIONS_FILE, message=why
                )
            try:
                dataset = DatasetData(filepath=predictions)
            except Exception as exception:  # ASE raises many kinds of errors for malformed extxyz
                return self.exit_codes.ERROR_OUTPUT_FILES_UNREADABLE.format(
                    filename=calculation.PREDICTIONS_FILE, message=exception
                )
            if dataset.num_frames != self.node.inputs.frames.num_frames:
                return self.exit_codes.ERROR_OUTPUT_FILES_UNREADABLE.format(
                    filename=calculation.PREDICTIONS_FILE, message='it holds fewer frames than were given'
                )
            self.out('predictions', dataset)
        return None
