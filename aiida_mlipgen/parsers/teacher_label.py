"""Parser of ``mlipgen.teacher_label``: labelled frames and per-frame failures into nodes."""

from __future__ import annotations

import json
from pathlib import Path

from aiida import orm
from aiida.parsers import Parser

from aiida_mlipgen.calculations.teacher_label import TeacherLabelCalculation
from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.engines.teacher_label import ERROR_PREFIX


class TeacherLabelParser(Parser):
    """Attach the failures first, then the labelled frames; a teacher that cannot be built is exit 301."""

    def _retrieved_text(self, name: str) -> str | None:
        if name not in self.retrieved.base.repository.list_object_names():
            return None
        return self.retrieved.base.repository.get_object_content(name, mode='r')

    def parse(self, retrieved_temporary_folder: str | None = None, **kwargs):
        """Read ``failures.json`` (retrieved) and ``labelled.extxyz`` (retrieved temporarily)."""
        stderr = self._retrieved_text(TeacherLabelCalculation.STDERR_FILE) or ''
        errors = [line for line in stderr.splitlines() if line.startswith(ERROR_PREFIX)]
        if errors:
            return self.exit_codes.ERROR_TEACHER_UNAVAILABLE.format(
                message=errors[-1].removeprefix(ERROR_PREFIX).strip()
            )
        why = stderr.strip().splitlines()[-1] if stderr.strip() else f'see {TeacherLabelCalculation.STDERR_FILE}'

        failures_text = self._retrieved_text(TeacherLabelCalculation.FAILURES_FILE)
        temporary = Path(retrieved_temporary_folder) if retrieved_temporary_folder else None
        labelled_file = temporary / TeacherLabelCalculation.OUTPUT_FILE if temporary else None
        missing = [
            name
            for name, present in (
                (TeacherLabelCalculation.FAILURES_FILE, failures_text is not None),
                (TeacherLabelCalculation.OUTPUT_FILE, labelled_file is not None and labelled_file.is_file()),
            )
            if not present
        ]
        if missing:
            return self.exit_codes.ERROR_OUTPUT_FILES_MISSING.format(files=', '.join(missing), message=why)
        try:
            failures = json.loads(failures_text)
            self.out('failures', orm.Dict(failures))
            if labelled_file.stat().st_size > 0:
                self.out('labelled', DatasetData(filepath=labelled_file))
        except ValueError as exception:
            return self.exit_codes.ERROR_OUTPUT_FILES_UNREADABLE.format(message=str(exception))
        return None
