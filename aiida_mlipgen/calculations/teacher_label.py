"""``TeacherLabelCalculation``: label a batch of frames with a teacher calculator (``mlipgen-teacher-label``)."""

from __future__ import annotations

import io
import json

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.science.exit_codes import declare
from aiida_mlipgen.science.extxyz import write_extxyz
from aiida_mlipgen.science.fingerprints import with_fingerprint


def teacher_settings(calculator: dict) -> dict:
    """The labelling-settings fingerprint of teacher labels (``code: teacher``, import path, parameters).

    It can never equal a DFT fingerprint (``code: quantumespresso.pw``), so teacher and DFT labels are
    never merged, and two teachers, or one teacher with other parameters, never either.
    """
    return with_fingerprint(
        {
            'code': 'teacher',
            'calculator': calculator['calculator'],
            'parameters': calculator.get('parameters', {}),
            'stress': bool(calculator.get('stress', True)),
        }
    )


def check_calculator(calculator: dict) -> str | None:
    """Why ``calculator`` cannot name a teacher, or None. The import itself happens on the compute node."""
    unknown = sorted(set(calculator) - {'calculator', 'parameters', 'stress'})
    if unknown:
        return f'teacher `calculator` has unknown keys {unknown}: use calculator, parameters, stress.'
    path = calculator.get('calculator')
    if not isinstance(path, str) or path.count(':') != 1 or not all(path.split(':')):
        return f'teacher `calculator` must name an ASE calculator as `package.module:Name`, got {path!r}.'
    if not isinstance(calculator.get('parameters', {}), dict):
        return 'teacher `parameters` must be a dict of keyword arguments.'
    if not isinstance(calculator.get('stress', True), bool):
        return 'teacher `stress` must be true or false.'
    return None


def validate_calculator(value: orm.Dict, _) -> str | None:
    """Port validator of ``calculator``."""
    return check_calculator(value.get_dict())


def validate_frames(value: DatasetData, _) -> str | None:
    """A batch must hold frames."""
    if value.num_frames == 0:
        return 'there are no frames to label.'
    return None


class TeacherLabelCalculation(CalcJob):
    """Run ``mlipgen-teacher-label`` on a batch of frames: one job, many labels, failures per frame."""

    INPUT_FILE = 'teacher.json'
    FRAMES_FILE = 'frames.extxyz'
    OUTPUT_FILE = 'labelled.extxyz'
    FAILURES_FILE = 'failures.json'
    STDOUT_FILE = 'teacher_label.out'
    STDERR_FILE = 'teacher_label.err'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'frames',
            valid_type=DatasetData,
            validator=validate_frames,
            help='The frames to label; labels they may carry are replaced, their info is kept.',
        )
        spec.input(
            'calculator',
            valid_type=orm.Dict,
            validator=validate_calculator,
            help='The teacher: `calculator` (import path `package.module:Name` of an ASE calculator class or '
            'factory), `parameters` (its keyword arguments), `stress` (default true).',
        )
        spec.inputs['metadata']['options']['resources'].default = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
        spec.inputs['metadata']['options']['withmpi'].default = False
        spec.inputs['metadata']['options']['parser_name'].default = 'mlipgen.teacher_label'

        spec.output(
            'labelled',
            valid_type=DatasetData,
            required=False,
            help='The frames the teacher labelled (energy eV, forces eV/A, stress eV/A^3); `batch_index` in info.',
        )
        spec.output('failures', valid_type=orm.Dict, help='Batch index -> why the teacher could not label that frame.')
        declare(spec, 'ERROR_OUTPUT_FILES_MISSING', 'mlipgen-teacher-label did not write {files}: {message}')
        declare(spec, 'ERROR_TEACHER_UNAVAILABLE', 'The teacher could not be built: {message}')
        declare(
            spec, 'ERROR_OUTPUT_FILES_UNREADABLE', 'The output of mlipgen-teacher-label could not be read: {message}'
        )

    def prepare_for_submission(self, folder):
        """Write the frames and the teacher's settings; retrieve the labelled frames and the failures."""
        buffer = io.StringIO()
        write_extxyz(buffer, self.inputs.frames.get_atoms())
        with folder.open(self.FRAMES_FILE, 'w', encoding='utf-8') as handle:
            handle.write(buffer.getvalue())
        with folder.open(self.INPUT_FILE, 'w', encoding='utf-8') as handle:
            json.dump(self.inputs.calculator.get_dict(), handle, indent=2, sort_keys=True)

        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = [
            self.INPUT_FILE,
            '--frames',
            self.FRAMES_FILE,
            '--output',
            self.OUTPUT_FILE,
            '--failures',
            self.FAILURES_FILE,
        ]
        codeinfo.stdout_name = self.STDOUT_FILE
        codeinfo.stderr_name = self.STDERR_FILE

        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.retrieve_list = [self.FAILURES_FILE, self.STDOUT_FILE, self.STDERR_FILE]
        calcinfo.retrieve_temporary_list = [self.OUTPUT_FILE]
        return calcinfo
