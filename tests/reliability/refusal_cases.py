"""The malformed-input table: every case must be refused before any job runs, with a one-line message.

Plain data and plain functions, no pytest: ``tests/reliability/test_refusals.py`` runs every case, and
``benchmarks/reliability.py`` counts them. A case builds its input from a :class:`Context` (codes, a folder
for files, the profile name) and is one of three kinds:

- ``process``: ``make`` returns ``(process class, inputs)``; the inputs are checked the way the engine checks
  them when a process is created (``spec().inputs.pre_process`` then ``validate``), so nothing can run.
- ``cli``: ``make`` returns the arguments of ``mlipgen`` (``-p PROFILE`` is added); it must exit non-zero,
  print one ``Error:`` line and no traceback.
- ``data``: ``make`` returns a callable that must raise ``ValueError`` or ``TypeError``.

``match`` is a regular expression the message must contain: it names the problem.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator

#: The codes the cases need, by role: (code label, executable, calculation plugin). None of them is run; the
#: executables must exist (a missing one is a refusal case of its own). Executables without a path are looked
#: up beside the running Python (the package's tools), then on PATH.
CODE_ROLES = {
    'pw': ('pw', 'pw.x', 'quantumespresso.pw'),
    'train': ('nequip-train', 'nequip-train', 'mlipgen.nequip.train'),
    'explore': ('mlipgen-explore', 'mlipgen-explore', 'mlipgen.explore'),
    'evaluate': ('mlipgen-evaluate', 'mlipgen-evaluate', 'mlipgen.evaluate'),
    'teacher': ('mlipgen-teacher-label', 'mlipgen-teacher-label', 'mlipgen.teacher_label'),
    'benchmark': ('mlipgen-benchmark', 'mlipgen-benchmark', 'mlipgen.benchmark.model'),
    'lammps': ('lmp', 'lmp', 'lammps.base'),
    'lammps_raw': ('lmp-raw', 'lmp', 'lammps.raw'),
}


def executable(name: str) -> str | None:
    """Absolute path of ``name``: beside the running Python, else on PATH; None if neither has it."""
    import shutil
    import sys

    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


@dataclass
class Context:
    """What the cases build on: ``codes`` by stage (pw, train, explore, evaluate, teacher), a scratch folder."""

    codes: dict
    folder: Path
    profile: str
    cache: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """One malformed input: its target (work chain, data type or ``mlipgen``), the problem, how to make it."""

    id: str
    target: str
    problem: str
    kind: str
    make: Callable[[Context], object]
    match: str


@dataclass(frozen=True)
class Outcome:
    """How a case was answered: refused or not, the message, and whether it is one line naming the problem."""

    refused: bool
    message: str
    names_problem: bool
    one_line: bool
    traceback: bool = False

    @property
    def ok(self) -> bool:
        """Refused, with a one-line message that names the problem, and no traceback."""
        return self.refused and self.names_problem and self.one_line and not self.traceback


# -- inputs the cases share ----------------------------------------------------------------------------------

TINY_LOOP = {
    'max_iterations': 1,
    'initial_set': {
        'min_atoms': None,
        'rattle_amplitudes_A': [0.05],
        'copies_per_amplitude': 1,
        'volume_changes_percent': [],
        'shear_strains': [],
    },
    'label': {'pw': {'kpoints_distance': 0.6, 'pw': {'parameters': {'SYSTEM': {'ecutwfc': 16.0, 'ecutrho': 64.0}}}}},
    'train': {'committee_size': 2, 'min_members': 2},
}


def silicon(a: float = 5.43) -> Atoms:
    return bulk('Si', 'diamond', a=a)


def labelled(frames: list[Atoms], settings: dict | None = None):
    """A labelled ``DatasetData`` (zero forces, made-up energies), with ``settings`` recorded if given."""
    from aiida_mlipgen.data.dataset import DatasetData

    for index, atoms in enumerate(frames):
        atoms.calc = SinglePointCalculator(
            atoms, energy=-10.0 - index, forces=np.zeros((len(atoms), 3)), stress=np.zeros(6)
        )
    dataset = DatasetData(frames)
    if settings is not None:
        dataset.set_labelling_settings(settings)
    return dataset


def structure(atoms: Atoms):
    from aiida import orm

    return orm.StructureData(ase=atoms)


def overlapping_silicon() -> Atoms:
    atoms = silicon()
    atoms.positions[1] = atoms.positions[0] + [0.3, 0.0, 0.0]
    return atoms


def fake_model(context: Context, species: list[str]):
    """A ``ModelData`` of a package that names ``species``: enough for every species check (never run)."""
    from aiida_mlipgen.data.model import ModelData

    path = context.folder / f'model_{"_".join(species)}.nequip.zip'
    if not path.exists():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, 'w') as archive:
            types = '\n'.join(f'  {index}: {symbol}' for index, symbol in enumerate(species))
            archive.writestr('package/model/package_metadata.txt', f'atom_types:\n{types}\n')
        path.write_bytes(buffer.getvalue())
    return ModelData(path, cutoff=4.0)


def _copy_mappings(value):
    """Nested mappings copied as dicts, the nodes in them shared (``pre_process`` changes mappings in place)."""
    if isinstance(value, Mapping):
        return {key: _copy_mappings(item) for key, item in value.items()}
    return value


def _apply(inputs: Mapping, overrides: Mapping) -> dict:
    """A copy of ``inputs`` with ``overrides`` merged in: dicts into ``Dict`` nodes, other values as new nodes."""
    from aiida import orm
    from aiida_quantumespresso.workflows.protocols.utils import recursive_merge

    result = _copy_mappings(inputs)
    for key, value in overrides.items():
        current = result.get(key)
        if isinstance(value, orm.Data):
            result[key] = value
        elif isinstance(value, dict) and isinstance(current, orm.Dict):
            result[key] = orm.Dict(recursive_merge(current.get_dict(), value))
        elif isinstance(value, dict):
            result[key] = _apply(current or {}, value)
        elif isinstance(value, list):
            result[key] = orm.List(value)
        else:
            result[key] = (orm.Int if isinstance(value, int) else orm.Float)(value)
    return result


def loop(context: Context, overrides: dict | None = None):
    """``(ActiveLearningWorkChain, inputs)`` of a tiny loop on silicon (built once), ``overrides`` merged in."""
    from aiida_mlipgen.workflows.active_learning import ActiveLearningWorkChain

    if 'loop' not in context.cache:
        codes = {stage: context.codes[stage] for stage in ('pw', 'train', 'explore', 'evaluate')}
        builder = ActiveLearningWorkChain.get_builder_from_protocol(
            codes, {'si2': structure(silicon())}, protocol='fast', overrides=TINY_LOOP
        )
        context.cache['loop'] = builder._inputs(prune=True)
    return ActiveLearningWorkChain, _apply(context.cache['loop'], overrides or {})


def loop_with(context: Context, **changes):
    """A tiny loop with some top-level inputs replaced (``None`` removes one)."""
    process, inputs = loop(context)
    for key, value in changes.items():
        if value is None:
            inputs.pop(key, None)
        else:
            inputs[key] = value
    return process, inputs


def loop_with_code(context: Context, code):
    """A tiny loop whose DFT runs with ``code``."""
    process, inputs = loop(context)
    inputs['label']['pw']['pw']['code'] = code
    return process, inputs


def loop_settings(context: Context) -> dict:
    """The labelling settings of the tiny loop (as its labels would record them)."""
    from aiida_mlipgen.workflows.labelling_inputs import settings_of_inputs

    if 'settings' not in context.cache:
        context.cache['settings'] = settings_of_inputs(loop(context)[1]['label'])
    return context.cache['settings']


def continued_loop(context: Context, settings: dict | None, **extra):
    """A tiny loop continued from labelled datasets (recording ``settings``), without seeds."""
    frames = [silicon(5.40 + 0.01 * index) for index in range(4)]
    return loop_with(
        context,
        seed_structures=None,
        exploration_structures={'si2': structure(silicon())},
        training_dataset=labelled(frames[:3], settings),
        test_dataset=labelled(frames[3:], settings),
        **extra,
    )


def teacher_loop_continued(context: Context, settings: dict):
    """A tiny loop labelled by the Stillinger-Weber teacher, continued from datasets recording ``settings``."""
    from aiida_mlipgen.workflows.active_learning import ActiveLearningWorkChain

    if 'teacher_loop' not in context.cache:
        codes = {stage: context.codes[stage] for stage in ('teacher', 'train', 'explore', 'evaluate')}
        overrides = {key: value for key, value in TINY_LOOP.items() if key != 'label'}
        builder = ActiveLearningWorkChain.get_builder_from_protocol(
            codes,
            {'si2': structure(silicon())},
            protocol='fast',
            overrides=overrides,
            teacher={'calculator': 'aiida_mlipgen.science.teacher:stillinger_weber_silicon', 'parameters': {}},
        )
        context.cache['teacher_loop'] = builder._inputs(prune=True)
    frames = [silicon(5.40 + 0.01 * index) for index in range(4)]
    inputs = _apply(context.cache['teacher_loop'], {})
    inputs.pop('seed_structures', None)
    inputs['exploration_structures'] = {'si2': structure(silicon())}
    inputs['training_dataset'] = labelled(frames[:3], settings)
    inputs['test_dataset'] = labelled(frames[3:], settings)
    return ActiveLearningWorkChain, inputs


def labelling(context: Context, frames=None, **changes):
    """``(LabellingWorkChain, inputs)`` labelling two silicon cells, with top-level inputs replaced."""
    from aiida_mlipgen.workflows.labelling import LabellingWorkChain

    builder = LabellingWorkChain.get_builder_from_protocol(
        context.codes['pw'], frames or {'si': structure(silicon())}, protocol='fast'
    )
    inputs = builder._inputs(prune=True)
    inputs.update(changes)
    return LabellingWorkChain, inputs


def teacher_labelling(context: Context, calculator: dict | None = None, **changes):
    from aiida_mlipgen.data.dataset import DatasetData
    from aiida_mlipgen.workflows.teacher_labelling import TeacherLabellingWorkChain

    builder = TeacherLabellingWorkChain.get_builder_from_protocol(
        context.codes['teacher'],
        calculator or {'calculator': 'aiida_mlipgen.science.teacher:stillinger_weber_silicon'},
        DatasetData([silicon()]),
        protocol='fast',
    )
    inputs = builder._inputs(prune=True)
    inputs.update(changes)
    return TeacherLabellingWorkChain, inputs


def training(context: Context, **changes):
    from aiida_mlipgen.workflows.training import TrainingWorkChain

    dataset = labelled([silicon(5.40 + 0.01 * index) for index in range(4)])
    builder = TrainingWorkChain.get_builder_from_protocol(context.codes['train'], dataset, protocol='fast')
    inputs = builder._inputs(prune=True)
    inputs.update(changes)
    return TrainingWorkChain, inputs


def nequip_train_base(context: Context, training_dataset=None, validation_dataset=None):
    """``(NequipTrainBaseWorkChain, inputs)``: one member's training with restarts (never run)."""
    from aiida import orm

    from aiida_mlipgen.workflows.nequip_train_base import NequipTrainBaseWorkChain

    nequip = {
        'code': context.codes['train'],
        'training_dataset': training_dataset or labelled([silicon(5.40 + 0.01 * index) for index in range(4)]),
        'seed': orm.Int(1),
        'hyperparameters': orm.Dict({'max_epochs': 1}),
        'metadata': {'options': {'resources': {'num_machines': 1}}},
    }
    if validation_dataset is not None:
        nequip['validation_dataset'] = validation_dataset
    else:
        nequip['validation_fraction'] = orm.Float(0.25)
    return NequipTrainBaseWorkChain, {'nequip': nequip}


def exploration(context: Context, conditions: dict | None = None, structures=None, models=None):
    from aiida_mlipgen.workflows.exploration import ExplorationWorkChain

    models = models or {f'member{index}': fake_model(context, ['Si']) for index in range(2)}
    builder = ExplorationWorkChain.get_builder_from_protocol(
        context.codes['explore'], models, structures or {'si2': structure(silicon())}, protocol='fast'
    )
    inputs = builder._inputs(prune=True)
    if conditions:
        inputs['conditions'] = type(inputs['conditions'])({**inputs['conditions'].get_dict(), **conditions})
    return ExplorationWorkChain, inputs


def evaluation(context: Context, models=None, frames=None):
    from aiida_mlipgen.calculations.evaluate import CommitteeEvaluateCalculation

    inputs = {
        'code': context.codes['evaluate'],
        'models': models or {f'member{index}': fake_model(context, ['Si']) for index in range(2)},
        'frames': frames or labelled([silicon()]),
        'metadata': {'options': {'resources': {'num_machines': 1}}},
    }
    return CommitteeEvaluateCalculation, inputs


def classical(context: Context, structures=None, **overrides):
    """``(ClassicalSamplingWorkChain, inputs)``: Stillinger-Weber silicon MD with ``overrides`` of the protocol."""
    from aiida_mlipgen.workflows.classical_sampling import ClassicalSamplingWorkChain
    from aiida_mlipgen.workflows.classical_sampling_inputs import lammps_potential

    if 'sw' not in context.cache:
        context.cache['sw'] = lammps_potential(Path('/usr/share/lammps/potentials/Si.sw'), 'sw', ['Si'])
    builder = ClassicalSamplingWorkChain.get_builder_from_protocol(
        context.codes['lammps'],
        structures or {'si8': structure(bulk('Si', 'diamond', a=5.43, cubic=True))},
        context.cache['sw'],
        protocol='fast',
        overrides=overrides,
    )
    return ClassicalSamplingWorkChain, builder._inputs(prune=True)


def benchmark(context: Context, test_datasets=None, reference_structures=None):
    """``(BenchmarkWorkChain, inputs)``: test errors of a (never run) committee, and NVE if structures are given."""
    from aiida_mlipgen.workflows.benchmark import BenchmarkWorkChain

    builder = BenchmarkWorkChain.get_builder_from_protocol(
        {'benchmark': context.codes['benchmark']},
        models={f'member{index}': fake_model(context, ['Si']) for index in range(2)},
        test_datasets=test_datasets or {'fixed': labelled([silicon()])},
        reference_structures=reference_structures,
        protocol='fast',
        checks=('test_errors', 'nve') if reference_structures else ('test_errors',),
    )
    return BenchmarkWorkChain, builder._inputs(prune=True)


def lammps_nequip(context: Context, structure_atoms: Atoms | None = None, **settings):
    """``(LammpsNequipWorkChain, inputs)``: committee MD in LAMMPS (never run), with MD ``settings`` replaced."""
    from aiida import orm

    from aiida_mlipgen.workflows.lammps_nequip import LammpsNequipWorkChain

    model = context.folder / 'si.nequip.pt2'
    model.write_bytes(b'never read')
    run = {'temperature': 900.0, 'num_steps': 200, 'stride': 20, 'seed': 3, **settings}
    inputs = {
        'lammps': {'code': context.codes['lammps_raw']},
        'evaluate': {
            'code': context.codes['evaluate'],
            'models': {f'member{index}': fake_model(context, ['Si']) for index in range(2)},
        },
        'structure': structure(structure_atoms or bulk('Si', 'diamond', a=5.43, cubic=True)),
        'deployed_model': orm.SinglefileData(model),
        **{key: (orm.Float if isinstance(value, float) else orm.Int)(value) for key, value in run.items()},
    }
    return LammpsNequipWorkChain, inputs


def missing_code(context: Context):
    """An installed code on the local computer whose executable does not exist."""
    from aiida import orm

    code = context.cache.get('missing_code')
    if code is None:
        code = orm.InstalledCode(
            computer=context.codes['pw'].computer,
            filepath_executable='/nonexistent/bin/pw.x',
            default_calc_job_plugin='quantumespresso.pw',
            label='pw-missing',
        ).store()
        context.cache['missing_code'] = code
    return code


def write(context: Context, name: str, content: str | bytes) -> Path:
    path = context.folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding='utf-8')
    return path


def run_args(context: Context, *paths: Path, extra: tuple[str, ...] = ()) -> list[str]:
    # The codes by UUID: other tests of the same profile may have stored codes of the same labels.
    codes = [f'--code={stage}={context.codes[stage].uuid}' for stage in ('pw', 'train', 'explore', 'evaluate')]
    return ['run', *codes, *extra, *(str(path) for path in paths)]


def xyz(atoms: Atoms) -> str:
    from aiida_mlipgen.science.extxyz import extxyz_string

    return extxyz_string([atoms])


# -- the table -------------------------------------------------------------------------------------------------

CASES: list[Case] = [
    # ActiveLearningWorkChain
    Case(
        'loop-wrong-type',
        'ActiveLearningWorkChain',
        'wrong type',
        'process',
        lambda c: loop_with(c, max_iterations=__import__('aiida').orm.Float(2.0)),
        r'max_iterations.*(Int|type)',
    ),
    Case(
        'loop-inverted-trust-window',
        'ActiveLearningWorkChain',
        'inverted trust window',
        'process',
        lambda c: loop(c, {'trust_levels': {'force_trust_lo': 0.3, 'force_trust_hi': 0.1}}),
        r'lo \(0\.3\) must be smaller than hi \(0\.1\)',
    ),
    Case(
        'loop-negative-temperature',
        'ActiveLearningWorkChain',
        'negative temperature',
        'process',
        lambda c: loop(c, {'explore': {'conditions': {'temperatures_K': [-300.0]}}}),
        r'temperatures_K',
    ),
    Case(
        'loop-negative-temperature-in-schedule',
        'ActiveLearningWorkChain',
        'negative temperature',
        'process',
        lambda c: loop(c, {'exploration_schedule': [{'temperatures_K': [300.0]}, {'temperatures_K': [-5.0]}]}),
        r'exploration_schedule.*temperatures_K',
    ),
    Case(
        'loop-unknown-species',
        'ActiveLearningWorkChain',
        'unknown species',
        'process',
        lambda c: loop_with(c, exploration_structures={'au': structure(bulk('Au', 'fcc', a=4.08))}),
        r'no pseudopotential for element\(s\) Au',
    ),
    Case(
        'loop-overlapping-seed',
        'ActiveLearningWorkChain',
        'overlapping atoms in seeds',
        'process',
        lambda c: loop_with(c, seed_structures={'close_pair': structure(overlapping_silicon())}),
        r'seed_structures.*close_pair.*0\.30 A apart',
    ),
    Case(
        'loop-hostile-seed-name',
        'ActiveLearningWorkChain',
        'hostile name',
        'process',
        lambda c: loop_with(c, seed_structures={'my seed; $(touch x)': structure(silicon())}),
        r'my seed; \$\(touch x\)',
    ),
    Case(
        'loop-seed-without-cell',
        'ActiveLearningWorkChain',
        'structure without a cell',
        'process',
        lambda c: loop_with(c, seed_structures={'water': structure(molecule('H2O'))}),
        r'water.*no periodic cell',
    ),
    Case(
        'loop-empty-training-set',
        'ActiveLearningWorkChain',
        'empty dataset',
        'process',
        lambda c: continued_loop(
            c, None, training_dataset=__import__('aiida_mlipgen.data.dataset', fromlist=['DatasetData']).DatasetData([])
        ),
        r'dataset needs at least one frame',
    ),
    Case(
        'loop-parent-model-species',
        'ActiveLearningWorkChain',
        'model species do not match',
        'process',
        lambda c: continued_loop(
            c, loop_settings(c), parent_models={f'member{i}': fake_model(c, ['Ge']) for i in range(2)}
        ),
        r'parent_models.*Si',
    ),
    Case(
        'loop-continue-other-dft-settings',
        'ActiveLearningWorkChain',
        'mixed DFT settings',
        'process',
        lambda c: continued_loop(c, {**loop_settings(c), 'kpoints_distance': 0.3, 'sha256': 'other'}),
        r'training_dataset.*differ.*kpoints_distance',
    ),
    Case(
        'loop-teacher-continue-dft-labels',
        'ActiveLearningWorkChain',
        'mixed DFT settings',
        'process',
        lambda c: teacher_loop_continued(c, loop_settings(c)),
        r'training_dataset.*differ.*calculator',
    ),
    Case(
        'loop-pw-parameters',
        'ActiveLearningWorkChain',
        'labelling that cannot give forces',
        'process',
        lambda c: loop(c, {'label': {'pw': {'pw': {'parameters': {'CONTROL': {'tprnfor': False}}}}}}),
        r'tprnfor = True',
    ),
    Case(
        'loop-missing-code',
        'ActiveLearningWorkChain',
        'a code that does not exist',
        'process',
        lambda c: loop_with_code(c, missing_code(c)),
        r'/nonexistent/bin/pw\.x.*does not exist',
    ),
    Case(
        'loop-negative-budget',
        'ActiveLearningWorkChain',
        'negative budget',
        'process',
        lambda c: loop(c, {'max_dft_calls': -1}),
        r'budget',
    ),
    # LabellingWorkChain
    Case(
        'label-wrong-type',
        'LabellingWorkChain',
        'wrong type',
        'process',
        lambda c: labelling(c, max_force=__import__('aiida').orm.Int(3)),
        r'max_force',
    ),
    Case(
        'label-unknown-species',
        'LabellingWorkChain',
        'unknown species',
        'process',
        lambda c: labelling(c, structures={'carbon': structure(bulk('C', 'diamond', a=3.57))}),
        r'no pseudopotential for element\(s\) C',
    ),
    Case(
        'label-empty-dataset',
        'LabellingWorkChain',
        'empty dataset',
        'process',
        lambda c: labelling(
            c, structures={}, dataset=__import__('aiida_mlipgen.data.dataset', fromlist=['x']).DatasetData([])
        ),
        r'dataset needs at least one frame',
    ),
    Case(
        'label-info-key-collision',
        'LabellingWorkChain',
        'info key colliding with a label key',
        'process',
        lambda c: labelling(
            c,
            structures={},
            dataset=__import__('aiida_mlipgen.data.dataset', fromlist=['x']).DatasetData(
                [Atoms(silicon(), info={'pw_calculation_uuid': 'mine', 'name': 'a'})]
            ),
        ),
        r"info key\(s\) \['pw_calculation_uuid'\]",
    ),
    Case(
        'label-negative-gate',
        'LabellingWorkChain',
        'negative threshold',
        'process',
        lambda c: labelling(c, max_force=__import__('aiida').orm.Float(-1.0)),
        r'must be positive',
    ),
    # TeacherLabellingWorkChain
    Case(
        'teacher-bad-calculator',
        'TeacherLabellingWorkChain',
        'malformed calculator',
        'process',
        lambda c: teacher_labelling(c, {'calculator': 'no colon here'}),
        r'package\.module:Name',
    ),
    Case(
        'teacher-info-key-collision',
        'TeacherLabellingWorkChain',
        'info key colliding with a label key',
        'process',
        lambda c: teacher_labelling(
            c,
            dataset=__import__('aiida_mlipgen.data.dataset', fromlist=['x']).DatasetData(
                [Atoms(silicon(), info={'frame_key': 'mine'})]
            ),
        ),
        r"info key\(s\) \['frame_key'\]",
    ),
    # TrainingWorkChain
    Case(
        'train-unlabelled-dataset',
        'TrainingWorkChain',
        'unlabelled dataset',
        'process',
        lambda c: training(
            c,
            training_dataset=__import__('aiida_mlipgen.data.dataset', fromlist=['x']).DatasetData(
                [silicon(), silicon(5.5)]
            ),
        ),
        r'(label|energ|forces)',
    ),
    Case(
        'train-committee-of-one',
        'TrainingWorkChain',
        'committee too small',
        'process',
        lambda c: training(c, committee_size=__import__('aiida').orm.Int(1)),
        r'at least 2 members',
    ),
    # NequipTrainBaseWorkChain
    Case(
        'train-base-unlabelled-dataset',
        'NequipTrainBaseWorkChain',
        'unlabelled dataset',
        'process',
        lambda c: nequip_train_base(
            c, training_dataset=__import__('aiida_mlipgen.data.dataset', fromlist=['x']).DatasetData([silicon()])
        ),
        r'training.*(label|energ|forces)',
    ),
    Case(
        'train-base-unknown-species',
        'NequipTrainBaseWorkChain',
        'unknown species',
        'process',
        lambda c: nequip_train_base(c, validation_dataset=labelled([bulk('Ge', 'diamond', a=5.66)])),
        r"validation dataset has species \['Ge'\] that are not in the training dataset",
    ),
    # ExplorationWorkChain
    Case(
        'explore-negative-temperature',
        'ExplorationWorkChain',
        'negative temperature',
        'process',
        lambda c: exploration(c, {'temperatures_K': [-300.0]}),
        r'temperatures_K',
    ),
    Case(
        'explore-model-species',
        'ExplorationWorkChain',
        'model species do not match',
        'process',
        lambda c: exploration(c, structures={'ge2': structure(bulk('Ge', 'diamond', a=5.66))}),
        r"ge2.*\['Ge'\].*committee knows only \['Si'\]",
    ),
    Case(
        'explore-overlapping-structure',
        'ExplorationWorkChain',
        'overlapping atoms',
        'process',
        lambda c: exploration(c, structures={'close_pair': structure(overlapping_silicon())}),
        r'close_pair.*0\.30 A apart',
    ),
    # CommitteeEvaluateCalculation
    Case(
        'evaluate-model-species',
        'CommitteeEvaluateCalculation',
        'model species do not match',
        'process',
        lambda c: evaluation(c, frames=labelled([bulk('Ge', 'diamond', a=5.66)])),
        r"species \['Ge'\]",
    ),
    Case(
        'evaluate-one-model',
        'CommitteeEvaluateCalculation',
        'committee too small',
        'process',
        lambda c: evaluation(c, models={'member0': fake_model(c, ['Si'])}),
        r'at least two models',
    ),
    # ClassicalSamplingWorkChain
    Case(
        'classical-negative-temperature',
        'ClassicalSamplingWorkChain',
        'negative temperature',
        'process',
        lambda c: classical(c, temperatures=[-300.0]),
        r'temperature',
    ),
    Case(
        'classical-overlapping-structure',
        'ClassicalSamplingWorkChain',
        'overlapping atoms',
        'process',
        lambda c: classical(c, structures={'close_pair': structure(overlapping_silicon())}),
        r'close_pair.*0\.30 A apart',
    ),
    # BenchmarkWorkChain
    Case(
        'benchmark-unlabelled-test-set',
        'BenchmarkWorkChain',
        'unlabelled dataset',
        'process',
        lambda c: benchmark(
            c,
            test_datasets={'fixed': __import__('aiida_mlipgen.data.dataset', fromlist=['x']).DatasetData([silicon()])},
        ),
        r'test set `fixed` has no labels',
    ),
    Case(
        'benchmark-model-species',
        'BenchmarkWorkChain',
        'model species do not match',
        'process',
        lambda c: benchmark(c, test_datasets={'ge': labelled([bulk('Ge', 'diamond', a=5.66)])}),
        r"\['Ge'\], which the models do not know",
    ),
    Case(
        'benchmark-overlapping-reference',
        'BenchmarkWorkChain',
        'overlapping atoms',
        'process',
        lambda c: benchmark(c, reference_structures={'close_pair': structure(overlapping_silicon())}),
        r'reference_structures.*close_pair.*0\.30 A apart',
    ),
    # LammpsNequipWorkChain
    Case(
        'lammps-nequip-negative-temperature',
        'LammpsNequipWorkChain',
        'negative temperature',
        'process',
        lambda c: lammps_nequip(c, temperature=-300.0),
        r'temperature',
    ),
    Case(
        'lammps-nequip-overlapping-structure',
        'LammpsNequipWorkChain',
        'overlapping atoms',
        'process',
        lambda c: lammps_nequip(c, overlapping_silicon()),
        r'structure.*0\.30 A apart',
    ),
    # Data types
    Case(
        'dataset-corrupt-extxyz',
        'DatasetData',
        'corrupt extxyz',
        'data',
        lambda c: (
            lambda: __import__('aiida_mlipgen.data.dataset', fromlist=['x']).DatasetData(
                filepath=write(c, 'corrupt.extxyz', xyz(silicon()).replace('2\n', '3\n', 1))
            )
        ),
        r'corrupt\.extxyz: not a readable extxyz file.*expected 3',
    ),
    Case(
        'dataset-label-key-in-info',
        'DatasetData',
        'info key colliding with a label key',
        'data',
        lambda c: (
            lambda: __import__('aiida_mlipgen.data.dataset', fromlist=['x']).DatasetData(
                [Atoms(silicon(), info={'energy': -10.0})]
            )
        ),
        r"\['energy'\].*collide with the labels",
    ),
    Case(
        'dataset-key-with-space',
        'DatasetData',
        'hostile key',
        'data',
        lambda c: (
            lambda: __import__('aiida_mlipgen.data.dataset', fromlist=['x']).DatasetData(
                [Atoms(silicon(), info={'my key; rm': 1})]
            )
        ),
        r'cannot be written to extxyz',
    ),
    Case(
        'model-not-a-package',
        'ModelData',
        'unreadable file',
        'data',
        lambda c: (
            lambda: __import__('aiida_mlipgen.data.model', fromlist=['x']).ModelData(
                write(c, 'model.nequip.zip', 'not a zip'), cutoff=4.0
            )
        ),
        r'not a NequIP package',
    ),
    # mlipgen run
    Case(
        'cli-empty-file',
        'mlipgen run',
        'empty file',
        'cli',
        lambda c: run_args(c, write(c, 'empty.xyz', '')),
        r'empty\.xyz: the file is empty',
    ),
    Case(
        'cli-not-a-cif',
        'mlipgen run',
        'file not in its format',
        'cli',
        lambda c: run_args(c, write(c, 'fake.cif', 'hello, not a CIF\n')),
        r'fake\.cif: not a readable structure file',
    ),
    Case(
        'cli-molecule-without-cell',
        'mlipgen run',
        'structure without a cell',
        'cli',
        lambda c: run_args(c, write(c, 'water.xyz', '3\n\nO 0 0 0\nH 0.76 0.59 0\nH -0.76 0.59 0\n')),
        r'water_0.*no periodic cell',
    ),
    Case(
        'cli-overlapping-atoms',
        'mlipgen run',
        'overlapping atoms in seeds',
        'cli',
        lambda c: run_args(c, write(c, 'close.extxyz', xyz(overlapping_silicon()))),
        r'close_0.*0\.30 A apart',
    ),
    Case(
        'cli-no-pseudopotential',
        'mlipgen run',
        'unknown species',
        'cli',
        lambda c: run_args(c, write(c, 'gold.extxyz', xyz(bulk('Au', 'fcc', a=4.08)))),
        r'no pseudopotential for Au in family',
    ),
    Case(
        'cli-unreadable-file',
        'mlipgen run',
        'unreadable file',
        'cli',
        lambda c: run_args(c, write(c, 'binary.xyz', bytes(range(256)) * 4)),
        r'binary\.xyz: not a readable',
    ),
    Case(
        'cli-corrupt-extxyz',
        'mlipgen run',
        'corrupt extxyz',
        'cli',
        lambda c: run_args(c, write(c, 'cut.extxyz', xyz(silicon()).replace('2\n', '3\n', 1))),
        r'cut\.extxyz: not a readable.*expected 3',
    ),
    Case(
        'cli-unknown-element',
        'mlipgen run',
        'unknown species',
        'cli',
        lambda c: run_args(c, write(c, 'xx.xyz', '1\n\nXx 0 0 0\n')),
        r'xx\.xyz: not a readable',
    ),
    Case(
        'cli-missing-code',
        'mlipgen run',
        'a code that does not exist',
        'cli',
        lambda c: run_args(c, write(c, 'si.extxyz', xyz(silicon())), extra=('--code', 'pw=no-such-code@nowhere')),
        r'codes not found: pw: no-such-code@nowhere',
    ),
    Case(
        'cli-bad-config',
        'mlipgen run',
        'unreadable file',
        'cli',
        lambda c: run_args(
            c,
            write(c, 'si.extxyz', xyz(silicon())),
            extra=('--config', str(write(c, 'loop.yaml', 'codes: [unclosed\n'))),
        ),
        r'loop\.yaml: not a readable YAML file',
    ),
    Case(
        'cli-status-unknown-pk',
        'mlipgen status',
        'a node that does not exist',
        'cli',
        lambda c: ['status', '999999'],
        r'no node with pk 999999',
    ),
]


# -- running a case --------------------------------------------------------------------------------------------


def _judge(message: str, match: str, refused: bool, traceback: bool = False) -> Outcome:
    return Outcome(
        refused=refused,
        message=message,
        names_problem=bool(re.search(match, message)),
        one_line='\n' not in message.strip(),
        traceback=traceback,
    )


def process_refusal(process_class, inputs: dict) -> str | None:
    """The message the engine would refuse ``inputs`` with when creating the process, or None; runs nothing."""
    namespace = process_class.spec().inputs
    try:
        parsed = namespace.pre_process(_copy_mappings(inputs))
    except (ValueError, TypeError) as exception:
        return str(exception)
    error = namespace.validate(parsed)
    return None if error is None else str(error)


def run_case(case: Case, context: Context) -> Outcome:
    """Run one case and judge the answer; nothing is submitted."""
    if case.kind == 'process':
        try:
            process_class, inputs = case.make(context)
        except (ValueError, TypeError) as exception:  # refused already by the builder
            return _judge(str(exception), case.match, refused=True)
        message = process_refusal(process_class, inputs)
        return _judge(message or '', case.match, refused=message is not None)
    if case.kind == 'data':
        action = case.make(context)
        try:
            action()
        except (ValueError, TypeError) as exception:
            return _judge(str(exception), case.match, refused=True)
        return _judge('', case.match, refused=False)
    if case.kind == 'cli':
        from click.testing import CliRunner

        from aiida_mlipgen.cli import cli

        command, *arguments = case.make(context)
        result = CliRunner().invoke(cli, [command, '-p', context.profile, *arguments])
        unexpected = result.exception is not None and not isinstance(result.exception, SystemExit)
        lines = [line for line in result.output.splitlines() if line.startswith('Error:')]
        message = ' | '.join(lines) if lines else result.output
        outcome = _judge(message, case.match, refused=result.exit_code != 0 and not unexpected)
        return Outcome(
            outcome.refused,
            outcome.message,
            outcome.names_problem,
            len(lines) == 1,
            traceback=unexpected or 'Traceback' in result.output,
        )
    raise ValueError(f'unknown case kind {case.kind}')
