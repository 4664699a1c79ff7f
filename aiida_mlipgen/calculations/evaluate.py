"""``CommitteeEvaluateCalculation``: committee deviations (and test-set errors) of frames, with ``mlipgen-evaluate``.

The frames come as a ``DatasetData``, as a LAMMPS dump in a ``SinglefileData``, or as a LAMMPS dump lying
in the remote folder of an earlier calculation on the same computer (the cluster route: the dump is
symlinked into the job folder, never copied through this machine).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob
from ase.data import chemical_symbols

from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.data.model import ModelData
from aiida_mlipgen.science.exit_codes import declare

#: Devices ``mlipgen-evaluate`` runs the models on.
DEVICES = ('cpu', 'cuda')
#: Ports that give the frames; exactly one of them.
FRAME_SOURCES = ('frames', 'dump', 'parent_folder')


def committee_species(models) -> list[str]:
    """Chemical symbols every model of the committee knows (sorted)."""
    species = None
    for model in models.values():
        species = set(model.species) if species is None else species & set(model.species)
    return sorted(species or ())


def dataset_is_labelled(dataset: DatasetData) -> bool:
    """True when every frame of the dataset has an energy, forces or stress label to compare with."""
    attributes = dataset.base.attributes
    return any(attributes.get(key, False) for key in ('has_energy', 'has_forces', 'has_stress'))


def _frame_species(inputs) -> tuple[list[str], str] | None:
    """The species of the frames before any job, and where they were read from; None if not known here."""
    if 'frames' in inputs:
        return list(inputs['frames'].species), f'the frames <{inputs["frames"].pk}>'
    if 'type_symbols' in inputs:
        return list(inputs['type_symbols'].get_list()), '`type_symbols`'
    return None


def validate_frame_source(inputs) -> str | None:
    """Exactly one frame source; LAMMPS dumps need the symbols of their atom types; a dump path in the folder."""
    given = [name for name in FRAME_SOURCES if name in inputs]
    if len(given) != 1:
        found = ', '.join(f'`{name}`' for name in given) or 'none'
        return f'give the frames in exactly one of `frames`, `dump` or `parent_folder` (found {found}).'
    source = given[0]
    if source == 'frames':
        if 'type_symbols' in inputs or 'dump_filename' in inputs:
            return '`type_symbols` and `dump_filename` are for LAMMPS dumps; a `frames` dataset knows its species.'
    else:
        if 'type_symbols' not in inputs:
            return 'a LAMMPS dump needs `type_symbols`: the chemical symbols of LAMMPS atom types 1, 2, ...'
        symbols = inputs['type_symbols'].get_list()
        if not symbols or any(symbol not in chemical_symbols[1:] for symbol in symbols):
            return f'`type_symbols` must be a non-empty list of chemical symbols, got {symbols}.'
    if source == 'parent_folder':
        if 'dump_filename' not in inputs:
            return 'give `dump_filename`, the path of the dump inside `parent_folder`.'
        path = PurePosixPath(inputs['dump_filename'].value)
        if path.is_absolute() or '..' in path.parts or not path.name:
            return f'`dump_filename` must be a relative path inside the parent folder, got `{path}`.'
        code = inputs.get('code')
        folder = inputs['parent_folder']
        if code is not None and code.computer is not None and folder.computer.uuid != code.computer.uuid:
            return (
                f'the dump lies on computer `{folder.computer.label}` but the code runs on '
                f'`{code.computer.label}`: a dump is evaluated where it lies (give a code on that computer).'
            )
    elif 'dump_filename' in inputs:
        return '`dump_filename` is only used with `parent_folder`.'
    return None


def validate_committee(inputs) -> str | None:
    """At least two models (a deviation is a spread), sharing the species of the frames."""
    models = inputs.get('models', {})
    if not models:
        return 'the committee is empty: give at least two models in `models`.'
    if len(models) < 2:
        return 'committee deviations need at least two models: one model has no spread.'
    known = committee_species(models)
    if not known:
        return 'the models share no species: they cannot form a committee.'
    found = _frame_species(inputs)
    if found is not None:
        species, where = found
        unknown = sorted(set(species) - set(known))
        if unknown:
            return (
                f'{where} contain species {unknown} that the committee does not know: every model must know every '
                f'species (together they know {known}).'
            )
    return None


def validate_inputs(inputs, ctx) -> str | None:
    """Refuse bad inputs before any job. A wrapper that excludes the frame ports checks the frames itself."""
    ports = set(ctx.keys()) if ctx is not None else set(inputs)
    if set(FRAME_SOURCES) <= ports:
        message = validate_frame_source(inputs)
        if message:
            return message
    if 'models' not in ports:
        return None  # a wrapper sets the committee itself
    return validate_committee(inputs)


def validate_device(value: orm.Str, _) -> str | None:
    """One of :data:`DEVICES`."""
    if value.value not in DEVICES:
        return f'`device` must be one of {", ".join(DEVICES)}, got `{value.value}`.'
    return None


def validate_batch_size(value: orm.Int, _) -> str | None:
    """A positive number of frames."""
    if value.value < 1:
        return f'`batch_size` must be a positive number of frames, got {value.value}.'
    return None


class CommitteeEvaluateCalculation(CalcJob):
    """Evaluate a committee of NequIP models on every frame of a dataset or LAMMPS dump with ``mlipgen-evaluate``.

    Each model's package is copied into the job folder; the frames are copied in (``frames``, ``dump``) or
    symlinked from the remote folder they lie in (``parent_folder``). Outputs: the frames with the committee
    deviations in their info, the deviation statistics, and, for labelled frames, the errors of the
    committee mean against the labels.
    """

    INPUT_FILE = 'frames.extxyz'
    DUMP_FILE = 'frames.lammpstrj'
    OUTPUT_FILE = 'evaluated.extxyz'
    SUMMARY_FILE = 'evaluation.json'
    STDOUT_FILE = 'mlipgen_evaluate.out'
    STDERR_FILE = 'mlipgen_evaluate.err'
    MODEL_SUFFIX = '.nequip.zip'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace(
            'models',
            valid_type=ModelData,
            dynamic=True,
            help='The committee: packaged NequIP models (any keys; evaluated in key order).',
        )
        spec.input(
            'frames',
            valid_type=DatasetData,
            required=False,
            help='Frames to evaluate. When they carry labels (energy, forces, stress), the errors of the committee '
            'mean against them come out as `metrics`.',
        )
        spec.input(
            'dump',
            valid_type=orm.SinglefileData,
            required=False,
            help='Frames to evaluate as a LAMMPS text dump (`dump custom ... id type x y z`); needs `type_symbols`.',
        )
        spec.input(
            'parent_folder',
            valid_type=orm.RemoteData,
            required=False,
            help='Remote folder (same computer as the code) holding a LAMMPS text dump at `dump_filename`; the dump '
            'is symlinked into the job folder and evaluated where it lies. Needs `type_symbols`.',
        )
        spec.input(
            'dump_filename',
            valid_type=orm.Str,
            required=False,
            help='Path of the dump inside `parent_folder`, e.g. `trajectory.lammpstrj`.',
        )
        spec.input(
            'type_symbols',
            valid_type=orm.List,
            required=False,
            help='Chemical symbols of LAMMPS atom types 1, 2, ... of the dump, e.g. `["Si"]`.',
        )
        spec.input(
            'device',
            valid_type=orm.Str,
            default=lambda: orm.Str('cpu'),
            validator=validate_device,
            help='Where the models run: `cpu` or `cuda` (request the GPU through the scheduler options).',
        )
        spec.input(
            'batch_size',
            valid_type=orm.Int,
            default=lambda: orm.Int(16),
            validator=validate_batch_size,
            help='Frames per forward pass; memory grows with it (8-32 suits a CPU, more a GPU).',
        )
        spec.inputs.validator = validate_inputs
        spec.inputs['metadata']['options']['resources'].default = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
        spec.inputs['metadata']['options']['withmpi'].default = False
        spec.inputs['metadata']['options']['parser_name'].default = 'mlipgen.evaluate'

        spec.output(
            'frames',
            valid_type=DatasetData,
            help='The frames as read, with in their info `max_force_deviation`, `mean_force_deviation` (eV/A), '
            '`energy_deviation_per_atom` (eV/atom), `stress_deviation` (eV/A^3); labels of labelled input unchanged, '
            'committee mean predictions only under `committee_*` names, never as labels.',
        )
        spec.output(
            'statistics',
            valid_type=orm.Dict,
            help='Deviation statistics (count, min, mean, median, max, std per deviation, with units), number of '
            'frames and models, device and timings (s).',
        )
        spec.output(
            'metrics',
            valid_type=orm.Dict,
            required=False,
            help='For labelled frames: errors of the committee mean, energy per atom (eV/atom), force components '
            '(eV/A), stress (GPa) MAE/RMSE/max, and the deviation-error rank correlation.',
        )

        declare(spec, 'ERROR_OUTPUT_FILES_MISSING', 'mlipgen-evaluate did not write {files}: {message}')
        declare(
            spec,
            'ERROR_OUTPUT_FILES_UNREADABLE',
            'The file {file} written by mlipgen-evaluate could not be read: {message}',
        )
        declare(spec, 'ERROR_UNKNOWN_SPECIES', 'The frames contain species the committee does not know: {message}')
        declare(spec, 'ERROR_READING_FRAMES', 'mlipgen-evaluate could not read the frames: {message}')
        declare(spec, 'ERROR_EVALUATION_FAILED', 'mlipgen-evaluate stopped with an error: {message}')
        declare(spec, 'ERROR_METRICS_FAILED', 'The errors against the labels could not be computed: {message}')

    def _model_files(self) -> list[tuple[ModelData, str]]:
        """Each model with the name of its package in the job folder, in key order."""
        return [(model, f'model_{key}{self.MODEL_SUFFIX}') for key, model in sorted(self.inputs.models.items())]

    def _frames_arguments(self) -> tuple[list[str], list[tuple], list[tuple]]:
        """Command-line arguments for the frames, and the local-copy and remote-symlink instructions."""
        if 'frames' in self.inputs:
            local = [(self.inputs.frames.uuid, DatasetData.FILENAME, self.INPUT_FILE)]
            return ['--input', self.INPUT_FILE, '--format', 'extxyz'], local, []
        arguments = ['--input', self.DUMP_FILE, '--format', 'lammps-dump-text']
        arguments += ['--type-symbols', *self.inputs.type_symbols.get_list()]
        if 'dump' in self.inputs:
            return arguments, [(self.inputs.dump.uuid, self.inputs.dump.filename, self.DUMP_FILE)], []
        folder = self.inputs.parent_folder
        source = str(PurePosixPath(folder.get_remote_path()) / self.inputs.dump_filename.value)
        return arguments, [], [(folder.computer.uuid, source, self.DUMP_FILE)]

    def prepare_for_submission(self, folder):
        """Copy the models and frames in; run ``mlipgen-evaluate`` on them; retrieve the summary and frames."""
        models = self._model_files()
        frame_arguments, local_copy_list, remote_symlink_list = self._frames_arguments()
        local_copy_list += [(model.uuid, ModelData.FILENAME, filename) for model, filename in models]

        arguments = ['--models', *(filename for _, filename in models), *frame_arguments]
        arguments += ['--output', self.OUTPUT_FILE, '--summary', self.SUMMARY_FILE]
        arguments += ['--device', self.inputs.device.value, '--batch-size', str(self.inputs.batch_size.value)]
        if 'frames' in self.inputs and dataset_is_labelled(self.inputs.frames):
            arguments.append('--with-mean')

        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = arguments
        codeinfo.stdout_name = self.STDOUT_FILE
        codeinfo.stderr_name = self.STDERR_FILE

        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.local_copy_list = local_copy_list
        calcinfo.remote_symlink_list = remote_symlink_list
        calcinfo.retrieve_list = [self.SUMMARY_FILE, self.STDOUT_FILE, self.STDERR_FILE]
        # The annotated frames become the `frames` node: no second copy in the retrieved folder.
        calcinfo.retrieve_temporary_list = [self.OUTPUT_FILE]
        return calcinfo
