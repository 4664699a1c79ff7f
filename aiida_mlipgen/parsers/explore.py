"""Parser of ``mlipgen.explore``: sampled frames and per-condition statistics into nodes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from aiida import orm
from aiida.parsers import Parser

from aiida_mlipgen.calculations.explore import ExploreCalculation
from aiida_mlipgen.data.dataset import DatasetData


def read_statistics(path: Path) -> dict:
    """The engine's JSON summary."""
    return json.loads(path.read_text(encoding='utf-8'))


class ExploreParser(Parser):
    """Attach what was explored, then report incomplete runs (walltime) with an exit code handlers can use."""

    def parse(self, retrieved_temporary_folder: str | None = None, **kwargs):
        """Frames from the temporary folder (not kept twice), statistics from the retrieved one."""
        retrieved = self.retrieved
        names = retrieved.base.repository.list_object_names()
        if ExploreCalculation.STATISTICS_FILE not in names:
            stderr = ''
            if ExploreCalculation.STDERR_FILE in names:
                stderr = retrieved.base.repository.get_object_content(ExploreCalculation.STDERR_FILE)
            if 'error:' in stderr:
                return self.exit_codes.ERROR_INPUT_REFUSED.format(message=stderr.strip().splitlines()[-1])
            return self.exit_codes.ERROR_OUTPUT_FILES_MISSING.format(filename=ExploreCalculation.STATISTICS_FILE)
        statistics = json.loads(retrieved.base.repository.get_object_content(ExploreCalculation.STATISTICS_FILE))
        self.out('statistics', orm.Dict(statistics))

        temporary = Path(retrieved_temporary_folder) if retrieved_temporary_folder else None
        frames_file = temporary / ExploreCalculation.FRAMES_FILE if temporary else None
        if frames_file is not None and frames_file.is_file() and frames_file.stat().st_size > 0:
            self.out('frames', DatasetData(filepath=frames_file))
        if temporary is not None:
            for path in sorted((temporary / ExploreCalculation.TRAJECTORY_DIR).glob('*.extxyz')):
                key = re.sub(r'\W', '_', path.stem)  # link labels: letters, digits and underscores
                self.out(f'trajectories.{key}', orm.SinglefileData(path))

        if statistics['conditions_done'] < statistics['num_conditions']:
            return self.exit_codes.ERROR_INCOMPLETE.format(
                done=statistics['conditions_done'], total=statistics['num_conditions']
            )
        if 'frames' not in self.outputs:
            return self.exit_codes.ERROR_NO_FRAMES
        return None
