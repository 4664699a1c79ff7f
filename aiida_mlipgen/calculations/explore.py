"""``ExploreCalculation``: exploration MD with a NequIP committee over a grid of conditions (``mlipgen-explore``)."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from aiida_mlipgen.calculations.evaluate import committee_species
from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.data.model import ModelData
from aiida_mlipgen.science.contract import TRUST_KEYS
from aiida_mlipgen.science.exit_codes import declare
from aiida_mlipgen.science.extxyz import write_extxyz

#: Keys of ``conditions`` that the calculation fills in itself.
OWN_KEYS = ('models', 'structures')


def _engine_input(
    conditions: dict, model_files: list[str], structure_files: dict[str, str], trust_levels: dict | None = None
) -> dict:
    return {**conditions, **(trust_levels or {}), 'models': model_files, 'structures': structure_files}


def check_conditions(
    conditions: dict, structures: dict[str, orm.StructureData], models: dict, trust_levels: dict | None = None
) -> str | None:
    """Check the conditions exactly as ``mlipgen-explore`` will, before any job: same parser, placeholder models.

    Also refuses species that the committee does not know, and trust levels inside ``conditions``: they are an
    input of their own (``trust_levels``), the one selection uses too.
    """
    from aiida_mlipgen.engines.exploration_settings import parse_settings

    reserved = sorted(set(conditions) & set(OWN_KEYS))
    if reserved:
        return f'`conditions` may not set {reserved}: they come from the `models` and `structures` inputs.'
    shared = sorted(set(conditions) & set(TRUST_KEYS))
    if shared:
        return f'`conditions` may not set {shared}: give the trust levels in the `trust_levels` input.'
    if len(models) < 2:
        return f'exploration needs a committee of at least two models, got {len(models)}.'
    known = set(committee_species(models))
    for name, structure in structures.items():
        unknown = sorted({kind.symbol for kind in structure.kinds} - known)
        if unknown:
            return f'structure `{name}` contains {unknown}: the committee knows only {sorted(known)}.'
    with tempfile.TemporaryDirectory() as directory:
        base = Path(directory)
        model_files = []
        for index in range(len(models)):
            (base / f'model_{index}.nequip.zip').touch()
            model_files.append(f'model_{index}.nequip.zip')
        structure_files = {}
        for name, structure in structures.items():
            write_extxyz(base / f'{name}.extxyz', [structure.get_ase()])
            structure_files[name] = f'{name}.extxyz'
        try:
            parse_settings(_engine_input(conditions, model_files, structure_files, trust_levels), base=base)
        except ValueError as exception:
            return f'exploration conditions: {exception}'
    return None


def validate_inputs(inputs, _) -> str | None:
    """The engine's own checks, run here so that bad conditions never reach a queue."""
    if 'conditions' not in inputs or 'models' not in inputs or 'structures' not in inputs:
        return None
    trust_levels = inputs['trust_levels'].get_dict() if 'trust_levels' in inputs else None
    return check_conditions(
        inputs['conditions'].get_dict(), dict(inputs['structures']), dict(inputs['models']), trust_levels
    )


class ExploreCalculation(CalcJob):
    """Run ``mlipgen-explore``: MD driven by the committee, all members checked every ``stride`` steps.

    Only what selection needs comes back: the sampled frames with their committee deviations and
    condition, and per-condition statistics; whole trajectories only with ``full_trajectory: true``.
    """

    INPUT_FILE = 'exploration.json'
    FRAMES_FILE = 'sampled.extxyz'
    STATISTICS_FILE = 'exploration.json.out'
    TRAJECTORY_DIR = 'trajectories'
    STDOUT_FILE = 'explore.out'
    STDERR_FILE = 'explore.err'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace(
            'models', valid_type=ModelData, dynamic=True, help='The committee (at least two packaged models).'
        )
        spec.input_namespace(
            'structures',
            valid_type=orm.StructureData,
            dynamic=True,
            help='Structures MD starts from, keyed by a name (letters, digits, - and _) used in condition labels.',
        )
        spec.input(
            'conditions',
            valid_type=orm.Dict,
            help='The grid and the MD: temperatures_K, ensemble, timestep_fs, steps, stride, and optional '
            'pressures_GPa, driver, stop_after, seed, write_frames, full_trajectory, device '
            '(see aiida_mlipgen.engines.exploration_settings).',
        )
        spec.input(
            'trust_levels',
            valid_type=orm.Dict,
            required=False,
            help='Trust windows that classify frames and stop a run above force_trust_hi: force_trust_lo/hi (eV/A), '
            'optional energy_trust_lo/hi (eV/atom) and stress_trust_lo/hi (GPa); default 0.05/0.15 eV/A (DP-GEN).',
        )
        spec.inputs.validator = validate_inputs
        spec.inputs['metadata']['options']['resources'].default = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
        spec.inputs['metadata']['options']['withmpi'].default = False
        spec.inputs['metadata']['options']['parser_name'].default = 'mlipgen.explore'

        spec.output(
            'frames',
            valid_type=DatasetData,
            required=False,
            help='Sampled frames (unlabelled) with max_force_deviation (eV/A), energy_deviation_per_atom '
            '(eV/atom), stress_deviation, class and condition in their info.',
        )
        spec.output('statistics', valid_type=orm.Dict, help='Per-condition statistics and totals of the exploration.')
        spec.output_namespace(
            'trajectories', valid_type=orm.SinglefileData, dynamic=True, help='Full trajectories, only when asked.'
        )
        declare(spec, 'ERROR_OUTPUT_FILES_MISSING', '`{filename}` was not written: the exploration did not run.')
        declare(spec, 'ERROR_INPUT_REFUSED', 'mlipgen-explore refused its input: {message}')
        declare(
            spec,
            'ERROR_INCOMPLETE',
            'Only {done} of {total} conditions finished (walltime?); their frames and statistics are attached.',
        )
        declare(spec, 'ERROR_NO_FRAMES', 'No frame was sampled in any condition.')

    def prepare_for_submission(self, folder):
        """Write the structures and the engine input, copy the models in, retrieve frames and statistics."""
        model_files = []
        local_copy_list = []
        for name in sorted(self.inputs.models):
            model = self.inputs.models[name]
            filename = f'models/{name}.nequip.zip'
            local_copy_list.append((model.uuid, ModelData.FILENAME, filename))
            model_files.append(filename)
        folder.get_subfolder('models', create=True)
        folder.get_subfolder('structures', create=True)
        structure_files = {}
        for name, structure in self.inputs.structures.items():
            buffer = io.StringIO()
            write_extxyz(buffer, [structure.get_ase()])
            structure_files[name] = f'structures/{name}.extxyz'
            with folder.open(structure_files[name], 'w', encoding='utf-8') as handle:
                handle.write(buffer.getvalue())
        trust_levels = self.inputs.trust_levels.get_dict() if 'trust_levels' in self.inputs else None
        engine_input = _engine_input(self.inputs.conditions.get_dict(), model_files, structure_files, trust_levels)
        with folder.open(self.INPUT_FILE, 'w', encoding='utf-8') as handle:
            json.dump(engine_input, handle, indent=2)

        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = [
            self.INPUT_FILE,
            '--frames',
            self.FRAMES_FILE,
            '--statistics',
            self.STATISTICS_FILE,
            '--trajectory-dir',
            self.TRAJECTORY_DIR,
        ]
        codeinfo.stdout_name = self.STDOUT_FILE
        codeinfo.stderr_name = self.STDERR_FILE

        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.local_copy_list = local_copy_list
        calcinfo.retrieve_list = [self.STATISTICS_FILE, self.STDOUT_FILE, self.STDERR_FILE]
        calcinfo.retrieve_temporary_list = [self.FRAMES_FILE]
        if engine_input.get('full_trajectory'):
            calcinfo.retrieve_temporary_list.append(f'{self.TRAJECTORY_DIR}/*.extxyz')
        return calcinfo
