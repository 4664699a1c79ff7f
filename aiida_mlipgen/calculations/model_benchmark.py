"""``ModelBenchmarkCalculation``: a potential's predictions and NVE runs for benchmarks, with ``mlipgen-benchmark``.

The potential is a committee of one or more packaged NequIP models (driven by the committee mean or by
member 0), or a built-in teacher (``stillinger-weber-si``), whose known answers test the checks.
"""

from __future__ import annotations

import io
import json

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.data.model import ModelData
from aiida_mlipgen.science.exit_codes import declare
from aiida_mlipgen.science.extxyz import write_extxyz

#: Keys of ``nve`` the engine accepts (``structures`` comes from the ``structures`` input).
NVE_KEYS = (
    'temperatures_K',
    'steps',
    'timestep_fs',
    'interval',
    'frame_interval',
    'seed',
    'min_distance_ratio',
    'max_force_deviation',
)


def validate_inputs(inputs, ctx) -> str | None:
    """The engine's own checks, before any job."""
    from aiida_mlipgen.engines.benchmark import check_input

    ports = set(ctx.keys()) if ctx is not None else set(inputs)
    if not {'models', 'teacher', 'frames', 'nve', 'structures'} <= ports:
        return None
    if bool(inputs.get('nve')) != bool(inputs.get('structures')):
        return '`nve` and `structures` go together: NVE runs start from the `structures`.'
    data = {
        'driver': inputs['driver'].value if 'driver' in inputs else 'mean',
        **({'models': sorted(inputs['models'])} if inputs.get('models') else {}),
        **({'teacher': inputs['teacher'].value} if 'teacher' in inputs else {}),
        **({'predict': {'frames': 'frames.extxyz'}} if 'frames' in inputs else {}),
    }
    if inputs.get('nve'):
        nve = inputs['nve'].get_dict()
        unknown = sorted(set(nve) - set(NVE_KEYS))
        if unknown:
            return f'unknown `nve` keys {unknown}; known: {list(NVE_KEYS)}'
        data['nve'] = {**nve, 'structures': dict.fromkeys(inputs['structures'], 'x')}
    try:
        check_input(data)
    except ValueError as exception:
        return str(exception)
    models = inputs.get('models') or {}
    if models and 'frames' in inputs:
        known = set.intersection(*(set(model.species) for model in models.values()))
        unknown = sorted(set(inputs['frames'].species) - known)
        if unknown:
            return f'the frames contain {unknown}, which the models do not know ({sorted(known)}).'
    return None


class ModelBenchmarkCalculation(CalcJob):
    """Run ``mlipgen-benchmark``: predict frames (``frames``) and/or run NVE (``nve`` from ``structures``)."""

    INPUT_FILE = 'benchmark_input.json'
    FRAMES_FILE = 'frames.extxyz'
    PREDICTIONS_FILE = 'predictions.extxyz'
    NVE_FILE = 'nve.json'
    NVE_FRAMES_FILE = 'nve_frames.extxyz'
    SUMMARY_FILE = 'benchmark.json'
    STDOUT_FILE = 'benchmark.out'
    STDERR_FILE = 'benchmark.err'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace(
            'models',
            valid_type=ModelData,
            dynamic=True,
            required=False,
            help='The potential: one packaged NequIP model or a committee (in key order; member 0 is the first).',
        )
        spec.input(
            'teacher',
            valid_type=orm.Str,
            required=False,
            help='A built-in teacher instead of models (`stillinger-weber-si`): checks with known answers.',
        )
        spec.input(
            'driver',
            valid_type=orm.Str,
            default=lambda: orm.Str('mean'),
            help='`mean`: the committee mean predicts and drives MD; `member0`: the first model alone.',
        )
        spec.input('frames', valid_type=DatasetData, required=False, help='Frames to predict (labels are kept).')
        spec.input_namespace(
            'structures',
            valid_type=orm.StructureData,
            dynamic=True,
            required=False,
            help='Structures the NVE runs start from, keyed by name.',
        )
        spec.input(
            'nve',
            valid_type=orm.Dict,
            required=False,
            help='NVE settings: temperatures_K, steps, and optional timestep_fs, interval, frame_interval, seed, '
            'min_distance_ratio, max_force_deviation (eV/A).',
        )
        spec.input('device', valid_type=orm.Str, default=lambda: orm.Str('cpu'), help='`cpu` or `cuda`.')
        spec.inputs.validator = validate_inputs
        spec.inputs['metadata']['options']['resources'].default = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
        spec.inputs['metadata']['options']['withmpi'].default = False
        spec.inputs['metadata']['options']['parser_name'].default = 'mlipgen.benchmark.model'

        spec.output(
            'predictions',
            valid_type=DatasetData,
            required=False,
            help='The frames with their labels, the prediction under committee_energy/forces/stress and the '
            'committee deviations in info.',
        )
        spec.output('nve', valid_type=orm.Dict, required=False, help='Per NVE run: drift, failure, steps, traces.')
        spec.output('nve_frames', valid_type=DatasetData, required=False, help='NVE frames for radial distributions.')
        declare(spec, 'ERROR_OUTPUT_FILES_MISSING', 'mlipgen-benchmark did not write `{filename}`: {message}')
        declare(spec, 'ERROR_INPUT_REFUSED', 'mlipgen-benchmark refused its input: {message}')
        declare(spec, 'ERROR_OUTPUT_FILES_UNREADABLE', '`{filename}` could not be read: {message}')

    def prepare_for_submission(self, folder):
        """Write the frames, structures and engine input; copy the models in."""
        data: dict = {'driver': self.inputs.driver.value, 'device': self.inputs.device.value}
        local_copy_list = []
        if 'teacher' in self.inputs:
            data['teacher'] = self.inputs.teacher.value
        else:
            data['models'] = []
            for key in sorted(self.inputs.models):
                filename = f'model_{key}.nequip.zip'
                local_copy_list.append((self.inputs.models[key].uuid, ModelData.FILENAME, filename))
                data['models'].append(filename)
        retrieve_temporary = []
        if 'frames' in self.inputs:
            local_copy_list.append((self.inputs.frames.uuid, DatasetData.FILENAME, self.FRAMES_FILE))
            data['predict'] = {'frames': self.FRAMES_FILE}
            retrieve_temporary.append(self.PREDICTIONS_FILE)
        if 'nve' in self.inputs:
            structures = {}
            folder.get_subfolder('structures', create=True)
            for name, structure in sorted(self.inputs.structures.items()):
                buffer = io.StringIO()
                write_extxyz(buffer, [structure.get_ase()])
                structures[name] = f'structures/{name}.extxyz'
                with folder.open(structures[name], 'w', encoding='utf-8') as handle:
                    handle.write(buffer.getvalue())
            data['nve'] = {**self.inputs.nve.get_dict(), 'structures': structures}
            retrieve_temporary.append(self.NVE_FRAMES_FILE)
        with folder.open(self.INPUT_FILE, 'w', encoding='utf-8') as handle:
            json.dump(data, handle, indent=2)

        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = [
            self.INPUT_FILE,
            '--predictions',
            self.PREDICTIONS_FILE,
            '--nve',
            self.NVE_FILE,
            '--nve-frames',
            self.NVE_FRAMES_FILE,
            '--summary',
            self.SUMMARY_FILE,
        ]
        codeinfo.stdout_name = self.STDOUT_FILE
        codeinfo.stderr_name = self.STDERR_FILE
        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.local_copy_list = local_copy_list
        calcinfo.retrieve_list = [self.SUMMARY_FILE, self.NVE_FILE, self.STDOUT_FILE, self.STDERR_FILE]
        calcinfo.retrieve_temporary_list = retrieve_temporary
        return calcinfo
