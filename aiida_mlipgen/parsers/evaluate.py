"""Parser of ``CommitteeEvaluateCalculation`` (``mlipgen.evaluate``): files to nodes, failures to exit codes."""

from __future__ import annotations

from pathlib import Path

from aiida import orm
from aiida.engine import ExitCode
from aiida.parsers import Parser

from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.parsers.evaluate_files import (
    MEAN_ENERGY_KEY,
    EngineFailure,
    committee_metrics,
    deviation_statistics,
    engine_error,
    json_ready,
    read_evaluated_frames,
    read_summary,
)

#: Summary entries kept beside the deviation statistics (counts, device, timings in s).
_RUN_KEYS = (
    'num_frames',
    'num_members',
    'species',
    'device',
    'torch_threads',
    'batch_size',
    'model_dtypes',
    'load_seconds',
    'evaluation_seconds',
    'frames_per_second',
)


class CommitteeEvaluateParser(Parser):
    """Turn the engine's summary and annotated frames into ``frames``, ``statistics`` and ``metrics``.

    The engine's own refusals map to exit codes (unknown species 303, unreadable frames 304, other errors
    and crashes 305); missing or unreadable output files to 301 and 302. When the errors against the labels
    cannot be computed (306), the frames and statistics are attached first.
    """

    def _retrieved_text(self, name: str) -> str | None:
        if name not in self.retrieved.base.repository.list_object_names():
            return None
        return self.retrieved.base.repository.get_object_content(name, mode='r')

    def parse(self, **kwargs) -> ExitCode | None:
        """Parse the summary (retrieved) and the annotated frames (retrieved temporarily)."""
        calculation = self.node.process_class
        stderr = self._retrieved_text(calculation.STDERR_FILE) or ''
        failure = engine_error(stderr)
        if failure is not None:
            return self._failure_exit_code(failure.kind, failure.message)

        why = f'see {calculation.STDERR_FILE}' + (f' ({stderr.strip().splitlines()[-1]})' if stderr.strip() else '')
        summary_text = self._retrieved_text(calculation.SUMMARY_FILE)
        if summary_text is None:
            return self.exit_codes.ERROR_OUTPUT_FILES_MISSING.format(files=calculation.SUMMARY_FILE, message=why)
        try:
            summary = read_summary(summary_text)
        except ValueError as exception:
            return self.exit_codes.ERROR_OUTPUT_FILES_UNREADABLE.format(
                file=calculation.SUMMARY_FILE, message=str(exception)
            )

        temporary = Path(kwargs.get('retrieved_temporary_folder') or '/nonexistent')
        frames_file = temporary / calculation.OUTPUT_FILE
        if not frames_file.is_file():
            return self.exit_codes.ERROR_OUTPUT_FILES_MISSING.format(files=calculation.OUTPUT_FILE, message=why)
        try:
            frames = read_evaluated_frames(frames_file.read_text(encoding='utf-8'), summary['num_frames'])
        except (ValueError, UnicodeDecodeError) as exception:
            return self.exit_codes.ERROR_OUTPUT_FILES_UNREADABLE.format(
                file=calculation.OUTPUT_FILE, message=str(exception)
            )

        statistics = {key: summary[key] for key in _RUN_KEYS if key in summary}
        statistics['deviations'] = deviation_statistics(frames)
        self.out('statistics', orm.Dict(json_ready(statistics)))

        metrics_error = None
        # The calculation asks the engine for the committee mean (`--with-mean`) only for labelled frames.
        if any(MEAN_ENERGY_KEY in atoms.info for atoms in frames):
            try:
                metrics = committee_metrics(frames)
                self.out('metrics', orm.Dict(json_ready(metrics)))
            except ValueError as exception:
                metrics_error = str(exception)
        self.out('frames', DatasetData(frames))
        if metrics_error is not None:
            return self.exit_codes.ERROR_METRICS_FAILED.format(message=metrics_error)
        return None

    def _failure_exit_code(self, kind: EngineFailure, message: str) -> ExitCode:
        if kind is EngineFailure.UNKNOWN_SPECIES:
            return self.exit_codes.ERROR_UNKNOWN_SPECIES.format(message=message)
        if kind is EngineFailure.UNREADABLE_FRAMES:
            return self.exit_codes.ERROR_READING_FRAMES.format(message=message)
        return self.exit_codes.ERROR_EVALUATION_FAILED.format(message=message)
