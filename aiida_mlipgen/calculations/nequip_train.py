"""``NequipTrainCalculation``: one NequIP 0.19 training with ``nequip-train``, packaged with ``nequip-package``."""

from __future__ import annotations

import shlex
from pathlib import PurePosixPath

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from aiida_mlipgen.calculations.nequip_checkpoint import read_checkpoint_progress
from aiida_mlipgen.calculations.nequip_config import (
    StartingPoint,
    TrainingData,
    build_config,
    check_hyperparameters,
    config_to_yaml,
)
from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.data.model import ModelData
from aiida_mlipgen.science.energy_references import per_species_energy_references
from aiida_mlipgen.science.exit_codes import declare

#: Targets of ``nequip-compile --target`` (AOTInductor): ASE calculator, LAMMPS pair_nequip, batches.
COMPILE_TARGETS = ('ase', 'pair_nequip', 'batch')
#: Seconds of the wall time kept for start-up and packaging (at least; 10 % of long runs).
WALLTIME_RESERVE_SECONDS = 60
#: Seconds kept in addition when the model is compiled (AOTInductor takes minutes on a CPU).
COMPILE_RESERVE_SECONDS = 300


def _dataset_problem(dataset: DatasetData, role: str) -> str | None:
    attributes = dataset.base.attributes
    if not attributes.get('has_energy', False):
        return f'the {role} dataset <{dataset.pk}> has frames without an energy label: NequIP cannot train on it.'
    if not attributes.get('has_forces', False):
        return f'the {role} dataset <{dataset.pk}> has frames without forces: NequIP trains on energies and forces.'
    return None


def validate_split(inputs) -> str | None:
    """The validation set is a dataset or a fraction of the training set, not both or neither."""
    if ('validation_dataset' in inputs) == ('validation_fraction' in inputs):
        return 'give either a `validation_dataset` or a `validation_fraction` of the training set (exactly one).'
    if 'validation_fraction' in inputs:
        fraction = inputs['validation_fraction'].value
        if not 0 < fraction < 1:
            return f'`validation_fraction` must lie strictly between 0 and 1, got {fraction}.'
        if 'training_dataset' in inputs:
            count = inputs['training_dataset'].num_frames
            held_out = round(count * fraction)
            if held_out < 1 or count - held_out < 1:
                return (
                    f'a `validation_fraction` of {fraction} of {count} frames leaves an empty training or '
                    'validation set.'
                )
    return None


def validate_datasets(inputs) -> str | None:
    """Labels present, and no species in the validation set that the model would not know."""
    training = inputs.get('training_dataset')
    if training is None:
        return None
    message = _dataset_problem(training, 'training')
    if message:
        return message
    validation = inputs.get('validation_dataset')
    if validation is not None:
        message = _dataset_problem(validation, 'validation')
        if message:
            return message
        missing = sorted(set(validation.species) - set(training.species))
        if missing:
            return (
                f'the validation dataset has species {missing} that are not in the training dataset '
                f'({training.species}): the model would never learn them.'
            )
    return None


def validate_starting_point(inputs) -> str | None:
    """One warm start and one checkpoint to resume at most; a parent model must know every species."""
    if 'checkpoint' in inputs and 'parent_folder' in inputs:
        return 'give the checkpoint to resume either as `checkpoint` or in a `parent_folder`, not both.'
    if 'parent_model' in inputs and 'parent_checkpoint' in inputs:
        return 'warm-start from a `parent_model` or from a `parent_checkpoint`, not from both.'
    parent = inputs.get('parent_model')
    if parent is None:
        return None
    training = inputs.get('training_dataset')
    if training is not None:
        unknown = sorted(set(training.species) - set(parent.species))
        if unknown:
            return f'the parent model <{parent.pk}> knows {parent.species} but the training set also has {unknown}.'
    hyperparameters = inputs['hyperparameters'].get_dict() if 'hyperparameters' in inputs else {}
    cutoff = hyperparameters.get('cutoff_radius')
    if cutoff is not None and abs(cutoff - parent.cutoff) > 1e-9:
        return (
            f'`cutoff_radius` {cutoff} A differs from the parent model cutoff {parent.cutoff} A: a warm start '
            'keeps the parent architecture.'
        )
    return None


def validate_inputs(inputs, ctx) -> str | None:
    """Refuse bad inputs before any job is submitted.

    A wrapper that excludes the dataset ports (``ctx`` lacks them) validates those parts itself, with
    these same functions.
    """
    ports = set(ctx.keys()) if ctx is not None else set(inputs)
    checks = [validate_starting_point]
    if {'training_dataset', 'validation_dataset', 'validation_fraction'} <= ports:
        checks.insert(0, validate_split)
    if 'training_dataset' in ports:
        checks.insert(0, validate_datasets)
    for check in checks:
        message = check(inputs)
        if message:
            return message
    return None


def validate_hyperparameters(value: orm.Dict, _) -> str | None:
    """Hyperparameters must be known to the template, of the right type and in range."""
    return check_hyperparameters(value.get_dict())


def validate_choice(choices: tuple[str, ...]):
    """Return a port validator accepting only ``choices``."""

    def validator(value: orm.Str, _) -> str | None:
        if value.value not in choices:
            return f'must be one of {", ".join(choices)}, got `{value.value}`.'
        return None

    return validator


def validate_positive_int(value: orm.Int, _) -> str | None:
    """A positive integer."""
    if value.value <= 0:
        return f'must be positive, got {value.value}.'
    return None


def sibling_executable(code: orm.AbstractCode, name: str) -> str:
    """Path of console script ``name`` installed beside the code's executable, or ``name`` (found on PATH)."""
    if isinstance(code, orm.InstalledCode):
        return str(PurePosixPath(code.filepath_executable).parent / name)
    return name


class NequipTrainCalculation(CalcJob):
    """Train one NequIP model with ``nequip-train`` and package it with ``nequip-package build``.

    The config is our template (``templates/nequip_train.yaml``) with the ``hyperparameters`` merged in;
    it is written as ``config.yaml`` in the job folder beside the datasets, and every file is referred
    to relative to the job folder. Packaging (and, if asked, AOTInductor compilation) runs in the same
    job after training, with the ``nequip-package`` / ``nequip-compile`` installed beside the code's
    ``nequip-train``.
    """

    CONFIG_NAME = 'config'
    CONFIG_FILE = 'config.yaml'
    TRAINING_FILE = 'training.extxyz'
    VALIDATION_FILE = 'validation.extxyz'
    PARENT_PACKAGE_FILE = 'parent.nequip.zip'
    PARENT_CHECKPOINT_FILE = 'parent.ckpt'
    RESTART_FILE = 'restart.ckpt'
    OUTPUT_DIR = 'outputs'
    MODEL_FILE = 'model.nequip.zip'
    COMPILED_FILE = 'model.nequip.pt2'
    STDOUT_FILE = 'nequip_train.out'
    STDERR_FILE = 'nequip_train.err'
    PACKAGE_LOG = 'nequip_package.out'
    COMPILE_LOG = 'nequip_compile.out'
    TRAIN_LOG = f'{OUTPUT_DIR}/train.log'
    METRICS_CSV = f'{OUTPUT_DIR}/csv/metrics.csv'
    HYDRA_CONFIG = f'{OUTPUT_DIR}/.hydra/config.yaml'
    LAST_CHECKPOINT = f'{OUTPUT_DIR}/last.ckpt'
    #: Retrieved and kept in the ``retrieved`` folder (AiiDA keeps only the base names).
    LOG_FILES = (TRAIN_LOG, METRICS_CSV, HYDRA_CONFIG, PACKAGE_LOG, COMPILE_LOG)
    #: Retrieved for parsing only, under their base names: they become nodes of their own.
    NODE_FILES = (MODEL_FILE, COMPILED_FILE, LAST_CHECKPOINT)

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'training_dataset',
            valid_type=DatasetData,
            help='Labelled frames to train on (energies and forces; stresses are used when every frame has one).',
        )
        spec.input(
            'validation_dataset',
            valid_type=DatasetData,
            required=False,
            help='Labelled frames to validate on; or give `validation_fraction` to split the training set.',
        )
        spec.input(
            'validation_fraction',
            valid_type=orm.Float,
            required=False,
            help='Fraction of the training frames held out for validation (when no `validation_dataset`).',
        )
        spec.input(
            'split_seed',
            valid_type=orm.Int,
            default=lambda: orm.Int(0),
            help='Seed of the random train/validation split; keep it equal across a committee.',
        )
        spec.input(
            'hyperparameters',
            valid_type=orm.Dict,
            default=lambda: orm.Dict({}),
            validator=validate_hyperparameters,
            help='Hyperparameters merged into the config template (cutoff_radius in A, num_layers, '
            'num_features, l_max, max_epochs, batch_size, learning_rate, ...; nested `trainer`, `data`, '
            '`training_module` mappings for anything else).',
        )
        spec.input(
            'seed',
            valid_type=orm.Int,
            help='Seed of the model initialisation and of the data shuffling: committee members differ by it.',
        )
        spec.input(
            'parent_model',
            valid_type=ModelData,
            required=False,
            help='Warm start: fine-tune this packaged model (its architecture, species and cutoff are kept).',
        )
        spec.input(
            'parent_checkpoint',
            valid_type=orm.SinglefileData,
            required=False,
            help='Warm start: fine-tune the model of this Lightning checkpoint (`nequip.model.ModelFromCheckpoint`).',
        )
        spec.input(
            'checkpoint',
            valid_type=orm.SinglefileData,
            required=False,
            help='Resume: continue the training of this Lightning checkpoint where it stopped (`++ckpt_path=`), '
            'with the same other inputs as the run that wrote it.',
        )
        spec.input(
            'parent_folder',
            valid_type=orm.RemoteData,
            required=False,
            help='Resume: continue the training whose remote job folder this is, from its `outputs/last.ckpt`.',
        )
        spec.input(
            'training_time_limit',
            valid_type=orm.Int,
            required=False,
            validator=validate_positive_int,
            help='Seconds of training after which it stops cleanly and exits as out of walltime, with a '
            'checkpoint to resume from. Default: `max_wallclock_seconds` less a reserve for start-up and '
            'packaging (10 %, at least 60 s).',
        )
        spec.input(
            'compile_target',
            valid_type=orm.Str,
            required=False,
            validator=validate_choice(COMPILE_TARGETS),
            help='Also compile the model with `nequip-compile --mode aotinductor` for this target; the '
            'compiled model runs only on the kind of device it was compiled on.',
        )
        spec.input(
            'compile_device',
            valid_type=orm.Str,
            default=lambda: orm.Str('cpu'),
            validator=validate_choice(('cpu', 'cuda')),
            help='Device the compiled model will run on.',
        )
        spec.inputs.validator = validate_inputs
        spec.inputs['metadata']['options']['resources'].default = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
        spec.inputs['metadata']['options']['withmpi'].default = False
        spec.inputs['metadata']['options']['parser_name'].default = 'mlipgen.nequip.train'

        spec.output('model', valid_type=ModelData, required=False, help='The packaged model (best epoch).')
        spec.output(
            'compiled_model',
            valid_type=orm.SinglefileData,
            required=False,
            help='The AOTInductor-compiled model (`model.nequip.pt2`), when `compile_target` was given.',
        )
        spec.output(
            'metrics',
            valid_type=orm.Dict,
            required=False,
            help='Validation metrics of the best epoch: energy (eV/atom), forces (eV/A), stress (GPa) MAE/RMSE.',
        )
        spec.output(
            'learning_curve',
            valid_type=orm.ArrayData,
            required=False,
            help='Per epoch: epoch, train_loss, val_loss, learning_rate, train_*/val_* metrics (units in names).',
        )
        spec.output(
            'checkpoint',
            valid_type=orm.SinglefileData,
            required=False,
            help='The last checkpoint (`last.ckpt`), to resume this training.',
        )
        spec.output('config', valid_type=orm.Dict, required=False, help='The full config nequip-train ran with.')

        declare(
            spec,
            'ERROR_OUTPUT_FILES_MISSING',
            'The job did not write {files}: see nequip_train.err and nequip_package.out.',
        )
        declare(spec, 'ERROR_TRAINING_FAILED', 'nequip-train stopped with an error: {message}')
        declare(
            spec, 'ERROR_COMPILATION_FAILED', 'nequip-compile did not write the compiled model: see nequip_compile.out.'
        )
        declare(
            spec,
            'ERROR_NO_VALIDATION_METRICS',
            'No epoch was validated with a finite loss, so there is no best model: {message}',
        )
        declare(
            spec,
            'ERROR_OUT_OF_WALLTIME',
            'The training ran out of wall time ({message}); the last checkpoint is attached to resume from.',
        )
        declare(
            spec,
            'ERROR_NON_FINITE_LOSS',
            'The loss became NaN or infinite ({message}): the learning rate is likely too high.',
        )
        declare(
            spec, 'ERROR_OUT_OF_MEMORY', 'The training ran out of memory ({message}): a smaller batch size may fit.'
        )

    def _starting_point(self) -> StartingPoint:
        """What the training starts from, as files in the job folder."""
        inputs = self.inputs
        return StartingPoint(
            package_file=self.PARENT_PACKAGE_FILE if 'parent_model' in inputs else None,
            checkpoint_file=self.PARENT_CHECKPOINT_FILE if 'parent_checkpoint' in inputs else None,
            resume_file=self.RESTART_FILE if 'checkpoint' in inputs or 'parent_folder' in inputs else None,
        )

    def _training_data(self) -> TrainingData:
        training = self.inputs.training_dataset
        validation = self.inputs.get('validation_dataset')
        frames = [training] + ([validation] if validation is not None else [])
        species = self.inputs.parent_model.species if 'parent_model' in self.inputs else training.species
        shifts = None
        if len(species) > 1 and set(training.species) == set(species):
            # several species: one least-squares reference energy each, not one mean for all
            shifts = per_species_energy_references(training.get_atoms())
        return TrainingData(
            training_file=self.TRAINING_FILE,
            species=list(species),
            has_stress=all(dataset.base.attributes.get('has_stress', False) for dataset in frames),
            validation_file=self.VALIDATION_FILE if validation is not None else None,
            validation_fraction=self.inputs.validation_fraction.value if validation is None else None,
            split_seed=self.inputs.split_seed.value,
            energy_shifts=shifts,
        )

    def _time_limit(self, start: StartingPoint) -> float | None:
        """Seconds of training ``trainer.max_time`` allows, counting those a resumed checkpoint already used."""
        if 'training_time_limit' in self.inputs:
            budget = float(self.inputs.training_time_limit.value)
        else:
            walltime = self.inputs.metadata.options.get('max_wallclock_seconds')
            if walltime is None:
                return None
            reserve = max(WALLTIME_RESERVE_SECONDS, 0.1 * walltime)
            if 'compile_target' in self.inputs:
                reserve += COMPILE_RESERVE_SECONDS
            budget = walltime - reserve
            if budget <= 0:
                self.logger.warning(f'max_wallclock_seconds {walltime} leaves no time to train: no soft time limit')
                return None
        if start.resume_file is None:
            return budget
        if 'checkpoint' not in self.inputs:
            self.logger.warning('resuming from a remote checkpoint whose training time is unknown: no soft time limit')
            return None
        with self.inputs.checkpoint.as_path() as path:
            return read_checkpoint_progress(path).training_seconds + budget

    def _hyperparameters(self) -> dict:
        hyperparameters = self.inputs.hyperparameters.get_dict()
        if 'parent_model' in self.inputs:
            hyperparameters['cutoff_radius'] = self.inputs.parent_model.cutoff
        return hyperparameters

    def _append_text(self) -> str:
        """Shell lines that package (and compile) the best model after training, in the same job."""
        code = self.inputs.code
        package = shlex.quote(sibling_executable(code, 'nequip-package'))
        best = f'{self.OUTPUT_DIR}/best.ckpt'
        lines = [
            '# Package the best epoch in the same job: nequip-package is installed beside nequip-train.',
            f'if [ -f {best} ]; then',
            f'    {package} build {best} {self.MODEL_FILE} > {self.PACKAGE_LOG} 2>&1',
            'fi',
        ]
        if 'compile_target' in self.inputs:
            compiler = shlex.quote(sibling_executable(code, 'nequip-compile'))
            target = shlex.quote(self.inputs.compile_target.value)
            device = shlex.quote(self.inputs.compile_device.value)
            lines += [
                f'if [ -f {self.MODEL_FILE} ]; then',
                f'    {compiler} {self.MODEL_FILE} {self.COMPILED_FILE} --mode aotinductor --device {device} '
                f'--target {target} > {self.COMPILE_LOG} 2>&1',
                'fi',
            ]
        return '\n'.join(lines)

    def prepare_for_submission(self, folder):
        """Write ``config.yaml``; copy datasets, parent model and checkpoint in; run, then package."""
        start = self._starting_point()
        config = build_config(
            self._hyperparameters(),
            seed=self.inputs.seed.value,
            data=self._training_data(),
            start=start,
            time_limit=self._time_limit(start),
        )
        with folder.open(self.CONFIG_FILE, 'w', encoding='utf-8') as handle:
            handle.write(config_to_yaml(config))

        local_copy_list = [
            (self.inputs.training_dataset.uuid, DatasetData.FILENAME, self.TRAINING_FILE),
        ]
        if 'validation_dataset' in self.inputs:
            local_copy_list.append((self.inputs.validation_dataset.uuid, DatasetData.FILENAME, self.VALIDATION_FILE))
        if 'parent_model' in self.inputs:
            local_copy_list.append((self.inputs.parent_model.uuid, ModelData.FILENAME, self.PARENT_PACKAGE_FILE))
        if 'parent_checkpoint' in self.inputs:
            parent = self.inputs.parent_checkpoint
            local_copy_list.append((parent.uuid, parent.filename, self.PARENT_CHECKPOINT_FILE))
        remote_copy_list = []
        if 'checkpoint' in self.inputs:
            checkpoint = self.inputs.checkpoint
            local_copy_list.append((checkpoint.uuid, checkpoint.filename, self.RESTART_FILE))
        elif 'parent_folder' in self.inputs:
            folder_node = self.inputs.parent_folder
            source = str(PurePosixPath(folder_node.get_remote_path()) / self.LAST_CHECKPOINT)
            remote_copy_list.append((folder_node.computer.uuid, source, self.RESTART_FILE))

        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        # nequip-train reads `-cn config` from its working directory (the job folder) when no `-cp` is
        # given: no absolute path of the remote job folder is needed at submission.
        codeinfo.cmdline_params = [
            '-cn',
            self.CONFIG_NAME,
            f'hydra.run.dir={self.OUTPUT_DIR}',
            'hydra.job.chdir=False',
        ]
        if start.resume_file:
            codeinfo.cmdline_params.append(f'++ckpt_path={start.resume_file}')
        codeinfo.stdout_name = self.STDOUT_FILE
        codeinfo.stderr_name = self.STDERR_FILE

        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.local_copy_list = local_copy_list
        calcinfo.remote_copy_list = remote_copy_list
        calcinfo.append_text = self._append_text()
        calcinfo.retrieve_list = [self.STDOUT_FILE, self.STDERR_FILE, *self.LOG_FILES]
        calcinfo.retrieve_temporary_list = list(self.NODE_FILES)
        return calcinfo
