"""Data efficiency of active learning: labels needed to reach a test error, against two baselines.

Silicon with a Stillinger-Weber teacher (matscipy, PRB 31, 5262) in place of DFT, so that thousands
of labels cost seconds. Three strategies gather labels at equal budgets:

* ``active_learning``: the real ``ActiveLearningWorkChain`` (teacher labelling, committee exploration
  MD, trust window, farthest-point sampling on structural descriptors);
* ``dpgen_style``: the same loop with ``selection.method = 'random'``, DP-GEN's random pick of
  candidates inside the trust window;
* ``random``: the loop's labelled initial set plus frames drawn at random from a pool of teacher MD at
  the loop's exploration conditions (same structures, temperatures, time step, thermostat, MD steps
  and sampling stride as the exploration runs that fed the loop's labels).

The exploration starts from five 64-atom phases (:mod:`phases`: crystal, liquid, melt-quenched
amorphous, vacancy, Si(100) slab); the loop's initial set is rattled and strained copies of the
crystal. A fixed test set of teacher MD (its own melt-quench, MD runs and seeds; crystal 300-1500 K,
liquid 2500 K, amorphous, vacancy and slab) is never trained on.

Every strategy's labels are then judged the same way: at every budget (the loop's label count after
each iteration, and larger budgets for ``random``) one NequIP model (the ``fast`` protocol's
architecture with l_max 2, :data:`MODEL_HYPERPARAMETERS`; 30 epochs of its labels, same seed) is trained
from scratch on the labels so far and scored on the test set, overall and per phase. Learning curves
(force RMSE and energy MAE vs labels, mean over seeds) and the labels each strategy needs to reach a
force RMSE of 0.10 eV/A and the best error every strategy reaches are printed and plotted
(:mod:`aiida_mlipgen.science.learning_curves`). Each strategy's final committee (its last budget,
``committee_size`` training seeds) is packaged under ``DIR/<strategy>/``.

    .venv/bin/python benchmarks/data_efficiency.py --output de-results            # 3 seeds
    .venv/bin/python benchmarks/data_efficiency.py --output de-quick --quick      # seed 0 (docs/performance.md)
    .venv/bin/python benchmarks/data_efficiency.py --output de-quick --report     # its tables as markdown

Writes ``DIR/summary.json``, ``DIR/learning_curves_forces.png``, ``DIR/learning_curves_energy.png``
and ``DIR/<strategy>/member_<k>.nequip.zip``; the AiiDA profile, data and training logs stay in
``DIR/work`` (delete it when done).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import product
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write
from loop_runner import TEACHER, explored_steps, label_batches, local_codes, temporary_profile
from phases import PHASES, MDSettings, MeltQuench, PhaseCondition, phase_structures, sample_conditions
from selection import HYPERPARAMETERS, Job, _tool, clean, model_errors, run_jobs, training_config

from aiida_mlipgen.calculations.nequip_config import config_to_yaml
from aiida_mlipgen.science.learning_curves import best_common_target, label_ratio, labels_to_target, mean_curve

STRATEGIES = ('active_learning', 'dpgen_style', 'random')
#: Selection method of the loop, per loop strategy.
LOOP_METHODS = {
    'active_learning': 'fps',
    'dpgen_style': 'random',
    'active_learning_adaptive': 'fps',
    'active_learning_atom': 'fps',
}
#: ``--adaptive``: our loop with the trust window's lower level fitted each iteration (``adaptive_trust``) on
#: an exploration test set of ``per_condition`` frames per condition (labelled, never trained on).
ADAPTIVE_STRATEGY = 'active_learning_adaptive'
ADAPTIVE_EXPLORATION_TEST = {'per_condition': 3, 'min_frames': 0}
ADAPTIVE_TRUST = {'enabled': True, 'min_frames': 3}
#: ``--per-atom``: our loop with farthest-point sampling on the environment of each candidate's atom of largest
#: committee force deviation (``selection.descriptor_of = 'max_deviation_atom'``) instead of the frame average.
PER_ATOM_STRATEGY = 'active_learning_atom'
#: Force RMSE target, eV/A (DOMAIN targets quote < 0.15 for RMSE; the Si-Ge study reached < 0.10).
FORCE_TARGET_EV_PER_A = 0.10
#: Seeds of the melt-quenches: the loop's exploration structures and the test set's own.
LOOP_PHASE_SEED, TEST_PHASE_SEED = 11, 22
#: Seed of the test set's MD runs (every run is seeded ``TEST_MD_SEED * 1000 + index``).
TEST_MD_SEED = 7
#: The test set's conditions: every phase, crystal from 300 to 1500 K, the liquid at 2500 K.
TEST_CONDITIONS = (
    PhaseCondition('crystal', 300),
    PhaseCondition('crystal', 900),
    PhaseCondition('crystal', 1500),
    PhaseCondition('liquid', 2500),
    PhaseCondition('amorphous', 300),
    PhaseCondition('amorphous', 900),
    PhaseCondition('vacancy', 900),
    PhaseCondition('slab', 300),
    PhaseCondition('slab', 900),
)

#: The loops' exploration, per iteration: each phase at a temperature where it stays that phase (the liquid
#: at 2500 K; crystal, vacancy and slab hot but solid; the amorphous below its crystallisation), the
#: temperatures of the test set's conditions and between them. The third iteration explores but labels nothing.
PHASE_SCHEDULE = (
    tuple(PhaseCondition(phase, t) for phase, t in zip(PHASES, (900, 2500, 900, 900, 900), strict=True)),
    tuple(PhaseCondition(phase, t) for phase, t in zip(PHASES, (1500, 2500, 300, 1500, 300), strict=True)),
    tuple(PhaseCondition(phase, t) for phase, t in zip(PHASES, (300, 2500, 900, 900, 900), strict=True)),
)


@dataclass(frozen=True)
class Settings:
    """What one benchmark run does. Temperatures K, times fs, deviations eV/A.

    :param schedule: exploration conditions per loop iteration (every phase at a temperature of its own, so
        that the crystal and the slab are not melted at the liquid's); the last repeats.
    :param max_iterations: loop iterations; the last trains and explores but labels nothing more.
    :param model_epochs: passes over its training frames of every benchmark model (batches of
        :data:`MODEL_BATCH_SIZE`), as optimiser steps clipped to ``[model_min_steps, model_max_steps]``.
    :param random_multiples: extra ``random`` budgets, as multiples of the loop's largest budget.
    """

    seeds: tuple[int, ...] = (0, 1, 2)
    max_iterations: int = 3
    schedule: tuple[tuple[PhaseCondition, ...], ...] = field(default_factory=lambda: PHASE_SCHEDULE)
    explore_steps: int = 200
    explore_stride: int = 10
    timestep_fs: float = 2.0
    thermostat_damping_fs: float = 100.0
    trust_window: tuple[float, float] = (0.10, 1.5)
    max_selected: int = 16
    committee_size: int = 2
    loop_epochs: int = 30
    initial_rattles_A: tuple[float, ...] = (0.02, 0.05, 0.1, 0.15)  # noqa: N815 - unit in the name
    initial_copies: int = 2
    model_epochs: int = 30
    model_min_steps: int = 300
    model_max_steps: int = 2000
    random_multiples: tuple[float, ...] = (2.0, 4.0)
    test_frames_per_condition: int = 12
    test_interval: int = 20
    melt_quench: MeltQuench = field(default_factory=MeltQuench)
    parallel: int = 2
    adaptive: bool = False
    per_atom: bool = False

    @property
    def strategies(self) -> tuple[str, ...]:
        """The strategies compared: :data:`STRATEGIES`, the adaptive loop with ``adaptive``, the per-atom one with
        ``per_atom``."""
        extra = ((ADAPTIVE_STRATEGY,) if self.adaptive else ()) + ((PER_ATOM_STRATEGY,) if self.per_atom else ())
        return STRATEGIES + extra

    @property
    def loop_strategies(self) -> tuple[str, ...]:
        """The strategies that run the loop."""
        return tuple(strategy for strategy in self.strategies if strategy in LOOP_METHODS)


FULL = Settings()
#: The full run's first seed, with one larger budget for ``random``: its kept work is the full run's seed 0.
QUICK = replace(FULL, seeds=(0,), random_multiples=(2.0,))

#: Frames per optimiser step of every benchmark model.
MODEL_BATCH_SIZE = 4
#: Every benchmark model and every loop committee member: the ``fast`` protocol's model (2 layers x 16
#: features, cutoff 4 A) with l_max 2 instead of 1. Stillinger-Weber's three-body term goes as
#: (cos theta + 1/3)^2, a second-order Legendre term: with l_max 1 the force RMSE on this test set stayed
#: at 0.43 eV/A on 80 frames, with l_max 2 it fell to 0.24 eV/A (same frames and steps; docs/performance.md).
MODEL_HYPERPARAMETERS = {**HYPERPARAMETERS, 'l_max': 2, 'batch_size': MODEL_BATCH_SIZE}


def md_settings(settings: Settings) -> MDSettings:
    """The Langevin settings of the loop's exploration, for teacher MD at the same conditions."""
    return MDSettings(timestep_fs=settings.timestep_fs, damping_fs=settings.thermostat_damping_fs)


def cached_frames(path: Path, build: Callable[[], list[Atoms]]) -> list[Atoms]:
    """The frames of extxyz file ``path``, built and written there first if it does not exist (labels kept)."""
    if path.exists():
        return read(path, ':', format='extxyz') if path.stat().st_size else []
    frames = build()
    write(path, frames, format='extxyz')
    return frames


def cached_structures(path: Path, build: Callable[[], dict[str, Atoms]]) -> dict[str, Atoms]:
    """Named structures kept in one extxyz file (the name in ``info['name']``), built first if it does not exist."""
    if not path.exists():
        named = []
        for name, atoms in build().items():
            atoms = atoms.copy()
            atoms.info['name'] = name
            named.append(atoms)
        write(path, named, format='extxyz')
    return read_structures(path)


def read_structures(path: Path) -> dict[str, Atoms]:
    """The structures :func:`cached_structures` kept, by name."""
    structures = {}
    for atoms in read(path, ':', format='extxyz'):
        structures[atoms.info.pop('name')] = atoms
    return structures


def build_test_set(settings: Settings) -> list[Atoms]:
    """The fixed test set: teacher MD of every :data:`TEST_CONDITIONS`, from a melt-quench of its own."""
    structures = phase_structures(TEST_PHASE_SEED, settings.melt_quench, md_settings(settings))
    return sample_conditions(
        structures,
        TEST_CONDITIONS,
        settings.test_frames_per_condition,
        settings.test_interval,
        TEST_MD_SEED,
        settings=md_settings(settings),
        processes=settings.parallel,
    )


def iteration_conditions(settings: Settings, iteration: int) -> tuple[PhaseCondition, ...]:
    """Exploration conditions of loop iteration ``iteration`` (1, 2, ...), the last entry repeating."""
    return settings.schedule[min(iteration, len(settings.schedule)) - 1]


def iteration_temperatures(settings: Settings, iteration: int) -> dict[str, list[float]]:
    """The loop's ``temperatures_K`` of iteration ``iteration``: phase -> temperatures (K)."""
    temperatures = {}
    for condition in iteration_conditions(settings, iteration):
        temperatures.setdefault(condition.phase, []).append(float(condition.temperature_K))
    return temperatures


def loop_overrides(
    settings: Settings, seed: int, method: str, adaptive: bool = False, descriptor_of: str = 'frame'
) -> dict:
    """Overrides of the loop's ``fast`` protocol for one strategy and seed (``adaptive``: fitted lower trust level;
    ``descriptor_of``: what the selection's descriptors describe)."""
    hyperparameters = {**MODEL_HYPERPARAMETERS, 'max_epochs': settings.loop_epochs}
    return {
        'max_iterations': settings.max_iterations,
        'split_seed': seed,
        'initial_set': {
            'min_atoms': None,
            'rattle_amplitudes_A': list(settings.initial_rattles_A),
            'copies_per_amplitude': settings.initial_copies,
            'volume_changes_percent': [-5.0, 5.0],
            'shear_strains': [],
            'include_seed': False,
            'seed': seed,
        },
        'trust_levels': {'force_trust_lo': settings.trust_window[0], 'force_trust_hi': settings.trust_window[1]},
        'selection': {
            'max_selected': settings.max_selected,
            'method': method,
            'seed': seed,
            'descriptor_of': descriptor_of,
        },
        'exploration_test': ADAPTIVE_EXPLORATION_TEST if adaptive else {'per_condition': 0, 'min_frames': 0},
        'adaptive_trust': ADAPTIVE_TRUST if adaptive else {'enabled': False},
        'exploration_schedule': [
            {'temperatures_K': iteration_temperatures(settings, i)} for i in range(1, settings.max_iterations + 1)
        ],
        'train': {
            'committee_size': settings.committee_size,
            'min_members': 2,
            'train': {'nequip': {'hyperparameters': hyperparameters}},
        },
        'explore': {
            'conditions': {
                'steps': settings.explore_steps,
                'stride': settings.explore_stride,
                'timestep_fs': settings.timestep_fs,
                'thermostat_damping_fs': settings.thermostat_damping_fs,
                'seed': 100 * seed,
            }
        },
    }


def run_loop(settings: Settings, strategy: str, seed: int, codes: dict, structures: dict) -> dict:
    """Run one loop to its end; return its label batches (frames per labelling stage) and statistics."""
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_mlipgen.workflows.active_learning import ActiveLearningWorkChain

    seeds = {'crystal': orm.StructureData(ase=structures['crystal'])}
    builder = ActiveLearningWorkChain.get_builder_from_protocol(
        codes,
        seeds,
        protocol='fast',
        overrides=loop_overrides(
            settings,
            seed,
            LOOP_METHODS[strategy],
            adaptive=strategy == ADAPTIVE_STRATEGY,
            descriptor_of='max_deviation_atom' if strategy == PER_ATOM_STRATEGY else 'frame',
        ),
        teacher=TEACHER,
    )
    builder.exploration_structures = {name: orm.StructureData(ase=atoms) for name, atoms in structures.items()}
    builder.group_label = orm.Str(f'data_efficiency/{strategy}_seed{seed}')
    start = time.perf_counter()
    _, node = run_get_node(builder)
    seconds = time.perf_counter() - start
    if not node.is_finished_ok:
        raise RuntimeError(f'{strategy} loop (seed {seed}) failed: [{node.exit_status}] {node.exit_message}')
    batches = label_batches(node)
    rows = node.outputs.iterations.get_dict().get('rows', []) if 'iterations' in node.outputs else []
    result = {
        'pk': node.pk,
        'wall_s': seconds,
        'stop_reason': node.outputs.stop_reason.value if 'stop_reason' in node.outputs else None,
        'stages': [label for label, _ in batches],
        'labels_per_stage': [len(frames) for _, frames in batches],
        'explored_md_steps': explored_steps(node),
        'iterations': rows,
    }
    print(
        f'  {strategy} seed {seed}: {len(batches) - 1} labelling iterations, labels per stage '
        f'{result["labels_per_stage"]}, {result["explored_md_steps"]} MD steps explored, stop: '
        f'{result["stop_reason"]} ({seconds:.0f} s)',
        flush=True,
    )
    return result | {'batches': [frames for _, frames in batches]}


def loop_prefix(workdir: Path, strategy: str, seed: int) -> Path:
    """Where a loop's result is kept: ``<prefix>.json`` and one ``<prefix>_<stage>.extxyz`` per labelling stage."""
    return workdir / 'loops' / f'{strategy}_seed{seed}'


def write_loop(prefix: Path, result: dict) -> None:
    """Keep a loop's result (:func:`run_loop`) in files, so a second run of the benchmark reuses it."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    for index, frames in enumerate(result['batches']):
        write(prefix.parent / f'{prefix.name}_{index}.extxyz', frames, format='extxyz')
    summary = {key: value for key, value in result.items() if key != 'batches'}
    prefix.with_suffix('.json').write_text(json.dumps(summary, indent=2))


def read_loop(prefix: Path) -> dict:
    """A loop's result as :func:`write_loop` kept it."""
    result = json.loads(prefix.with_suffix('.json').read_text())
    result['batches'] = [
        read(prefix.parent / f'{prefix.name}_{index}.extxyz', ':', format='extxyz') if count else []
        for index, count in enumerate(result['labels_per_stage'])
    ]
    return result


def run_one_loop(settings: Settings, output: Path, strategy: str, seed: int) -> None:
    """Run one loop in a profile of its own under ``DIR/work`` and keep its result (``--only-loop``)."""
    workdir = (output / 'work').resolve()
    structures = read_structures(workdir / 'exploration_structures.extxyz')
    profile_folder = workdir / f'aiida_{strategy}_seed{seed}'
    with temporary_profile(profile_folder):
        codes = local_codes(profile_folder / 'jobs')
        write_loop(loop_prefix(workdir, strategy, seed), run_loop(settings, strategy, seed, codes, structures))


def _run_loop_processes(settings: Settings, output: Path, failures: list) -> None:
    """Every loop not kept yet, each in a ``--only-loop`` process, ``settings.parallel`` at once."""
    workdir = (output / 'work').resolve()
    jobs = []
    for strategy, seed in product(settings.loop_strategies, settings.seeds):
        prefix = loop_prefix(workdir, strategy, seed)
        if prefix.with_suffix('.json').exists():
            continue
        prefix.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, __file__, '--output', str(output), '--only-loop', strategy, '--loop-seed', str(seed)]
        command += ['--quick'] if loop_settings(settings) == loop_settings(QUICK) else []
        command += ['--seeds', *map(str, settings.seeds), '--parallel', str(settings.parallel)]
        jobs.append(Job(f'{strategy} loop, seed {seed}', command, prefix.with_suffix('.log')))
    try:
        run_jobs(jobs, settings.parallel)
    except Exception as exception:  # handed to the main thread, which raises it
        failures.append(exception)


def loop_settings(settings: Settings) -> str:
    """What the kept loops, test set and pools depend on: every setting but seeds, models and strategies."""
    ignored = (
        'seeds',
        'parallel',
        'adaptive',
        'per_atom',
        'model_epochs',
        'model_min_steps',
        'model_max_steps',
        'random_multiples',
    )
    return json.dumps(asdict(settings) | dict.fromkeys(ignored), sort_keys=True)


def pool_conditions(settings: Settings, structures: dict, iteration: int) -> list[PhaseCondition]:
    """The conditions the loop explores in iteration ``iteration`` (those of ``structures``), sorted by phase."""
    conditions = iteration_conditions(settings, iteration)
    return sorted(
        (condition for condition in conditions if condition.phase in structures),
        key=lambda condition: (condition.phase, condition.temperature_K),
    )


def random_pool(settings: Settings, structures: dict, seed: int, iterations: int) -> list[Atoms]:
    """Teacher MD at the conditions of the loop's first ``iterations`` explorations, the same steps and stride.

    Frames carry the iteration whose conditions they share in ``info['pool_iteration']``.
    """
    frames = []
    for iteration in range(1, iterations + 1):
        sampled = sample_conditions(
            structures,
            pool_conditions(settings, structures, iteration),
            settings.explore_steps // settings.explore_stride,
            settings.explore_stride,
            seed=500 + 10 * seed + iteration,
            equilibration_steps=0,
            settings=md_settings(settings),
            processes=settings.parallel,
        )
        for atoms in sampled:
            atoms.info['pool_iteration'] = iteration
        frames += sampled
    return frames


def cumulative(batches: Sequence[Sequence[Atoms]]) -> list[list[Atoms]]:
    """The label sets after each stage: the first batch, the first two, ..."""
    sets, so_far = [], []
    for batch in batches:
        so_far = so_far + list(batch)
        sets.append(so_far)
    return sets


def random_label_sets(initial: list[Atoms], pool: list[Atoms], budgets: Sequence[int], seed: int) -> list[list[Atoms]]:
    """Nested label sets: the initial set plus the first picks of one random order of the pool, per budget."""
    order = np.random.default_rng(1000 + seed).permutation(len(pool))
    sets = []
    for budget in sorted(set(budgets)):
        extra = budget - len(initial)
        if extra < 0 or extra > len(pool):
            continue
        sets.append(initial + [pool[index] for index in order[:extra]])
    return sets


def same_frames(first: Sequence[Atoms], second: Sequence[Atoms]) -> bool:
    """Whether two frame lists hold the same positions in the same order."""
    return len(first) == len(second) and all(
        np.allclose(a.positions, b.positions, atol=1e-8) for a, b in zip(first, second, strict=True)
    )


def model_steps(settings: Settings, labels: int) -> int:
    """Optimiser steps of a benchmark model trained on ``labels`` frames: ``model_epochs`` passes, clipped."""
    steps = math.ceil(settings.model_epochs * labels / MODEL_BATCH_SIZE)
    return int(min(max(steps, settings.model_min_steps), settings.model_max_steps))


def model_config(train_file: Path, validation_file: Path, seed: int, steps: int) -> dict:
    """The ``nequip-train`` config of one benchmark model: :data:`MODEL_HYPERPARAMETERS`, ``steps`` steps.

    As in ``benchmarks/selection.py``: a cosine decay of the learning rate over the steps, no validation,
    the last weights kept, so that models differ only by their training frames (and step counts by size).
    """
    config = training_config(train_file, validation_file, seed, steps)
    for key, value in MODEL_HYPERPARAMETERS.items():
        if key in config and not isinstance(config[key], dict):
            config[key] = value
    return config


#: What Lightning logs when a training stopped at ``max_steps``: a kept model without it did not finish.
FINISHED_MESSAGE = '`max_steps='


def model_job(workdir: Path, name: str, training: Sequence[Atoms], validation_file: Path, seed: int, steps: int):
    """The ``nequip-train`` job of one benchmark model (None if it already finished there) and its checkpoint."""
    folder = workdir / name
    checkpoint, log = folder / 'run' / 'last.ckpt', folder / 'train.log'
    if checkpoint.exists() and log.exists() and FINISHED_MESSAGE in log.read_text(errors='replace'):
        return None, checkpoint
    folder.mkdir(parents=True, exist_ok=True)
    train_file = folder / 'train.extxyz'
    write(train_file, clean(training), format='extxyz')
    (folder / 'config.yaml').write_text(config_to_yaml(model_config(train_file, validation_file, seed, steps)))
    command = [_tool('nequip-train'), '-cp', str(folder), '-cn', 'config', f'hydra.run.dir={folder / "run"}']
    return Job(name, command, log), checkpoint


@dataclass
class Model:
    """One benchmark model: which strategy, seed and labels; its training job and checkpoint."""

    strategy: str
    seed: int
    labels: int
    member: int
    job: Job | None
    checkpoint: Path
    errors: dict = field(default_factory=dict)


def plan_models(settings: Settings, label_sets: dict[tuple[str, int], list[list[Atoms]]], workdir: Path) -> list[Model]:
    """Training jobs: one model per strategy, seed and budget, and the first seed's committees at the last budget.

    Every strategy of a seed starts from the same labelled initial set, so its model is trained once
    (strategy ``initial``).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    validation = workdir / 'validation.extxyz'  # read by nequip's data module, never evaluated
    write(validation, clean(label_sets[('active_learning', settings.seeds[0])][0][:2]), format='extxyz')
    models = []

    def add(strategy: str, seed: int, frames: list[Atoms], members: int) -> None:
        steps = model_steps(settings, len(frames))
        for member in range(members):
            name = f'{strategy}_s{seed}_n{len(frames)}_m{member}'
            job, checkpoint = model_job(workdir, name, frames, validation, member, steps)
            models.append(Model(strategy, seed, len(frames), member, job, checkpoint))

    for seed in settings.seeds:
        add('initial', seed, label_sets[('active_learning', seed)][0], 1)
        for strategy in settings.strategies:
            sets = label_sets[(strategy, seed)]
            for index, frames in enumerate(sets[1:], start=1):
                last = index == len(sets) - 1 and seed == settings.seeds[0]
                add(strategy, seed, frames, settings.committee_size if last else 1)
    return models


def curve_points(models: Sequence[Model], strategy: str, seed: int) -> list[Model]:
    """Member-0 models of a strategy and seed (with the shared initial-set model first), by label count."""
    chosen = [m for m in models if m.member == 0 and m.seed == seed and m.strategy in (strategy, 'initial')]
    return sorted(chosen, key=lambda model: model.labels)


def metric(errors: dict, key: str, phase: str | None) -> float:
    """One error of a model: overall (``phase`` None) or on one phase of the test set."""
    return errors[key] if phase is None else errors['by_phase'][phase][key]


def summarise_curves(settings: Settings, models: Sequence[Model]) -> dict:
    """Per strategy: each seed's curve, the mean curve, labels to the targets and the ratios between strategies."""
    curves = {}
    for strategy in settings.strategies:
        entry = {'seeds': {}, 'mean': {}}
        for seed in settings.seeds:
            points = curve_points(models, strategy, seed)
            entry['seeds'][str(seed)] = [{'labels': m.labels} | m.errors for m in points]
        for key in ('force_rmse_eV_per_A', 'energy_mae_meV_per_atom'):
            for phase in (None, *PHASES):
                per_seed = [
                    ([p['labels'] for p in points], [metric(p, key, phase) for p in points])
                    for points in entry['seeds'].values()
                ]
                labels, mean, std = mean_curve(per_seed)
                entry['mean'][f'{key}/{phase or "all"}'] = {
                    'labels': labels.tolist(),
                    'mean': mean.tolist(),
                    'std': std.tolist(),
                }
        curves[strategy] = entry

    def force_curve(strategy):
        mean = curves[strategy]['mean']['force_rmse_eV_per_A/all']
        return mean['labels'], mean['mean']

    targets = {
        'force_rmse_0.10': FORCE_TARGET_EV_PER_A,
        'force_rmse_best_common': best_common_target([force_curve(strategy) for strategy in settings.strategies]),
    }
    pairs = [('active_learning', 'random'), ('active_learning', 'dpgen_style')]
    for variant in settings.strategies[len(STRATEGIES) :]:
        pairs += [(variant, 'random'), (variant, 'dpgen_style'), (variant, 'active_learning')]
    reached = {}
    for name, target in targets.items():
        needed = {}
        for strategy in settings.strategies:
            labels, errors = force_curve(strategy)
            needed[strategy] = {'labels': labels_to_target(labels, errors, target), 'max_labels': max(labels)}
        ratios = {
            f'{ours}_vs_{other}': label_ratio(
                needed[ours]['labels'], needed[ours]['max_labels'], needed[other]['labels'], needed[other]['max_labels']
            ).as_dict()
            for ours, other in pairs
        }
        reached[name] = {'target_eV_per_A': target, 'labels_needed': needed, 'ratios': ratios}
    return {'curves': curves, 'targets': reached}


def plot_curves(summary: dict, output: Path) -> list[Path]:
    """Two PNGs (force RMSE, energy MAE): test error vs labels, overall and per phase, mean +- std over seeds."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    colours = {
        'active_learning': 'tab:blue',
        'dpgen_style': 'tab:orange',
        'random': 'tab:green',
        ADAPTIVE_STRATEGY: 'tab:purple',
        PER_ATOM_STRATEGY: 'tab:red',
    }
    paths = []
    for key, title, unit, filename in (
        ('force_rmse_eV_per_A', 'force RMSE', 'eV/Å', 'learning_curves_forces.png'),
        ('energy_mae_meV_per_atom', 'energy MAE', 'meV/atom', 'learning_curves_energy.png'),
    ):
        figure, axes = plt.subplots(2, 3, figsize=(13, 7.5), sharex=True)
        for axis, phase in zip(axes.ravel(), ('all', *PHASES), strict=True):
            for strategy in summary['curves']:
                curve = summary['curves'][strategy]['mean'][f'{key}/{phase}']
                labels, mean, std = (np.array(curve[name]) for name in ('labels', 'mean', 'std'))
                axis.plot(labels, mean, 'o-', color=colours[strategy], label=strategy, markersize=4)
                axis.fill_between(labels, mean - std, mean + std, color=colours[strategy], alpha=0.2, linewidth=0)
            if key.startswith('force'):
                axis.axhline(FORCE_TARGET_EV_PER_A, color='grey', linestyle='--', linewidth=1)
            axis.set_xscale('log')
            axis.set_yscale('log')
            axis.xaxis.set_major_formatter(ScalarFormatter())
            axis.xaxis.set_minor_formatter(NullFormatter())
            axis.set_title('whole test set' if phase == 'all' else phase)
            axis.grid(True, which='both', alpha=0.3)
        for axis in axes[-1]:
            axis.set_xlabel('labelled frames')
        for axis in axes[:, 0]:
            axis.set_ylabel(f'test {title} ({unit})')
        axes[0, 0].legend()
        figure.suptitle(f'Si, Stillinger-Weber teacher: test {title} vs labels (mean ± std over seeds)')
        figure.tight_layout()
        path = output / filename
        figure.savefig(path, dpi=110)
        plt.close(figure)
        paths.append(path)
    return paths


def package_committees(settings: Settings, models: Sequence[Model], output: Path) -> dict[str, list[str]]:
    """``nequip-package build`` each strategy's last-budget models of the first seed into ``output/<strategy>/``."""
    seed = settings.seeds[0]
    jobs, committees = [], {}
    for strategy in settings.strategies:
        last = max(m.labels for m in models if m.seed == seed and m.strategy in (strategy, 'initial'))
        members = [m for m in models if m.seed == seed and m.labels == last and m.strategy in (strategy, 'initial')]
        folder = output / strategy
        folder.mkdir(parents=True, exist_ok=True)
        committees[strategy] = []
        for model in sorted(members, key=lambda m: m.member):
            package = folder / f'member_{model.member}.nequip.zip'
            committees[strategy].append(str(package.relative_to(output)))
            if package.exists() and package.stat().st_mtime > model.checkpoint.stat().st_mtime:
                continue
            command = [_tool('nequip-package'), 'build', str(model.checkpoint), str(package)]
            jobs.append(Job(f'package_{strategy}_{model.member}', command, model.checkpoint.parent / 'package.log'))
    run_jobs(jobs, settings.parallel)
    return committees


def print_summary(summary: dict) -> None:
    """Learning curves as a table, labels to each target and the ratios."""
    print('\nTest force RMSE (eV/A) / energy MAE (meV/atom) vs labels, mean over seeds')
    for strategy in summary['curves']:
        forces = summary['curves'][strategy]['mean']['force_rmse_eV_per_A/all']
        energies = summary['curves'][strategy]['mean']['energy_mae_meV_per_atom/all']
        cells = [
            f'{n:g}: {f:.3f} / {e:.1f}'
            for n, f, e in zip(forces['labels'], forces['mean'], energies['mean'], strict=True)
        ]
        print(f'  {strategy:24s} ' + ', '.join(cells))
    for name, entry in summary['targets'].items():
        print(f'\nLabels to reach a test force RMSE of {entry["target_eV_per_A"]:.3f} eV/A ({name}):')
        for strategy, needed in entry['labels_needed'].items():
            value = f'{needed["labels"]:.0f}' if needed['labels'] is not None else f'> {needed["max_labels"]:g}'
            print(f'  {strategy:24s} {value}')
        for ratio_name, ratio in entry['ratios'].items():
            value = 'n/a' if ratio['value'] is None else f'{ratio["value"]:.2f}'
            print(f'  {ratio_name}: {value} ({ratio["kind"]})')


def _labels(needed: dict) -> str:
    return f'{needed["labels"]:.0f}' if needed['labels'] is not None else f'> {needed["max_labels"]:g}'


def _ratio(ratio: dict) -> str:
    if ratio['value'] is None:
        return 'unknown'
    bound = {'exact': '', 'upper_bound': '< ', 'lower_bound': '> '}[ratio['kind']]
    return f'{bound}{ratio["value"]:.2f}'


def markdown_report(summary: dict) -> str:
    """The learning curves (mean over seeds, overall and per phase) and labels to each target, as markdown tables."""
    lines = [
        '| strategy | labels | force RMSE (eV/A) | energy MAE (meV/atom) | '
        + ' | '.join(f'{phase} F' for phase in PHASES)
        + ' |',
        '|---|---:|---:|---:|' + '---:|' * len(PHASES),
    ]
    for strategy, entry in summary['curves'].items():
        mean = entry['mean']
        forces, energies = mean['force_rmse_eV_per_A/all'], mean['energy_mae_meV_per_atom/all']
        for index, labels in enumerate(forces['labels']):
            spread = f' ± {forces["std"][index]:.3f}' if forces['std'][index] else ''
            phases = []
            for phase in PHASES:
                curve = mean[f'force_rmse_eV_per_A/{phase}']
                phases.append(f'{curve["mean"][index]:.3f}' if index < len(curve['mean']) else '')
            lines.append(
                f'| {strategy} | {labels:g} | {forces["mean"][index]:.3f}{spread} | {energies["mean"][index]:.0f} | '
                + ' | '.join(phases)
                + ' |'
            )
    strategies = list(summary['curves'])
    ratio_names = list(next(iter(summary['targets'].values()))['ratios'])
    lines += [
        '',
        '| target (force RMSE) | ' + ' | '.join(strategies) + ' | ' + ' | '.join(ratio_names) + ' |',
        '|---|' + '---:|' * (len(strategies) + len(ratio_names)),
    ]
    for entry in summary['targets'].values():
        needed = [_labels(entry['labels_needed'][strategy]) for strategy in strategies]
        ratios = [_ratio(entry['ratios'][name]) for name in ratio_names]
        lines.append(f'| {entry["target_eV_per_A"]:.3f} eV/A | ' + ' | '.join(needed + ratios) + ' |')
    return '\n'.join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--output', type=Path, required=True, help='folder of summary.json, plots and committees')
    parser.add_argument('--quick', action='store_true', help='seed 0 only, random up to 2x the loop: < 20 min')
    parser.add_argument('--seeds', type=int, nargs='+', help='strategy seeds (default: 0 1 2, --quick: 0)')
    parser.add_argument(
        '--parallel', type=int, default=2, help='loops, trainings and MD runs at once (one thread each)'
    )
    parser.add_argument('--model-epochs', type=int, help='passes over its frames of every benchmark model')
    parser.add_argument(
        '--adaptive', action='store_true', help=f'add {ADAPTIVE_STRATEGY}: the loop with the adaptive trust window'
    )
    parser.add_argument(
        '--per-atom',
        action='store_true',
        help=f'add {PER_ATOM_STRATEGY}: the loop selecting on the environment of the most uncertain atom',
    )
    parser.add_argument('--report', action='store_true', help="print DIR/summary.json's tables as markdown and stop")
    parser.add_argument('--only-loop', choices=list(LOOP_METHODS), help=argparse.SUPPRESS)
    parser.add_argument('--loop-seed', type=int, default=0, help=argparse.SUPPRESS)
    return parser


def run(settings: Settings, output: Path) -> dict:
    import torch

    torch.set_num_threads(1)
    workdir = (output / 'work').resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    timings, begin = {}, time.perf_counter()
    clock = begin

    def stage(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now
        print(f'  [{name}: {timings[name]:.0f} s]', flush=True)

    load_start = os.getloadavg()
    print(f'{os.cpu_count()} CPU cores, load average {load_start[0]:.1f} at start; settings {asdict(settings)}')
    recorded = workdir / 'settings.json'
    # What the kept data depends on: everything but seeds, strategies and how the benchmark models are trained.
    wanted = loop_settings(settings)
    if recorded.exists() and recorded.read_text() != wanted:
        raise SystemExit(f'{workdir} holds the work of other settings: choose another --output, or delete it')
    recorded.write_text(wanted)
    structures = cached_structures(
        workdir / 'exploration_structures.extxyz',
        lambda: phase_structures(LOOP_PHASE_SEED, settings.melt_quench, md_settings(settings)),
    )
    stage('exploration structures')

    # The loops run in processes of their own (each with its own AiiDA profile) while this one makes
    # the test set and the random pools: teacher MD that no loop needs.
    failures = []
    loops_thread = threading.Thread(target=_run_loop_processes, args=(settings, output, failures))
    loops_thread.start()
    test = cached_frames(workdir / 'test_set.extxyz', lambda: build_test_set(settings))
    print(f'test set: {len(test)} frames ({len(TEST_CONDITIONS)} conditions), exploration seeds {sorted(structures)}')
    pools = {
        seed: cached_frames(
            workdir / f'random_pool_seed{seed}.extxyz',
            lambda seed=seed: random_pool(settings, structures, seed, settings.max_iterations - 1),
        )
        for seed in settings.seeds
    }
    stage('test set and random pools')
    loops_thread.join()
    if failures:
        raise failures[0]
    loops = {key: read_loop(loop_prefix(workdir, *key)) for key in product(settings.loop_strategies, settings.seeds)}
    stage('loops')

    label_sets, pool_sizes = {}, {}
    for seed in settings.seeds:
        ours, theirs = loops[('active_learning', seed)], loops[('dpgen_style', seed)]
        if not same_frames(ours['batches'][0], theirs['batches'][0]):
            raise RuntimeError(f'seed {seed}: the two loops labelled different initial sets')
        for strategy in settings.loop_strategies:
            label_sets[(strategy, seed)] = cumulative(loops[(strategy, seed)]['batches'])
        # The pool holds the explorations that fed labels: those before the last, label-free iteration.
        iterations = len(ours['batches']) - 1
        pool = [atoms for atoms in pools[seed] if atoms.info['pool_iteration'] <= iterations]
        steps = sum(len(pool_conditions(settings, structures, i)) for i in range(1, iterations + 1))
        pool_sizes[seed] = {'frames': len(pool), 'md_steps': steps * settings.explore_steps, 'iterations': iterations}
        budgets = [len(frames) for frames in label_sets[('active_learning', seed)]]
        budgets += [round(multiple * budgets[-1]) for multiple in settings.random_multiples]
        label_sets[('random', seed)] = random_label_sets(ours['batches'][0], pool, budgets, seed)

    recipe = f'models_{settings.model_epochs}_epochs_{settings.model_min_steps}-{settings.model_max_steps}_steps'
    models = plan_models(settings, label_sets, workdir / recipe)
    jobs = [model.job for model in models if model.job is not None]
    print(
        f'{len(models)} models ({len(models) - len(jobs)} kept), {settings.model_epochs} epochs each '
        f'({settings.model_min_steps}-{settings.model_max_steps} steps), {settings.parallel} at once',
        flush=True,
    )
    run_jobs(jobs, settings.parallel)
    stage('training')
    for model in models:
        model.errors = model_errors(model.checkpoint, test, group_by='phase', group_name='by_phase')
    stage('evaluation')

    summary = summarise_curves(settings, models)
    summary['committees'] = package_committees(settings, models, output)
    summary['plots'] = [str(path.relative_to(output)) for path in plot_curves(summary, output)]
    stage('committees and plots')
    timings['total'] = time.perf_counter() - begin
    return summary | {
        'settings': asdict(settings),
        'machine': {
            'cpu_cores': os.cpu_count(),
            'platform': platform.platform(),
            'processor': platform.processor() or platform.machine(),
            'load_average_start': load_start,
            'load_average_end': os.getloadavg(),
        },
        'teacher': TEACHER,
        'test_set': {
            'frames': len(test),
            'atoms_per_frame': sorted({len(atoms) for atoms in test}),
            'conditions': [condition.label for condition in TEST_CONDITIONS],
        },
        'loops': {
            f'{strategy}/seed{seed}': {key: value for key, value in loop.items() if key != 'batches'}
            for (strategy, seed), loop in loops.items()
        },
        'random_pools': {f'seed{seed}': pool for seed, pool in pool_sizes.items()},
        'timings_s': timings,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.report:
        print(markdown_report(json.loads((args.output / 'summary.json').read_text())))
        return 0
    settings = QUICK if args.quick else FULL
    settings = replace(settings, parallel=args.parallel)
    if args.seeds:
        settings = replace(settings, seeds=tuple(args.seeds))
    if args.model_epochs:
        settings = replace(settings, model_epochs=args.model_epochs)
    if args.adaptive:
        settings = replace(settings, adaptive=True)
    if args.per_atom:
        settings = replace(settings, per_atom=True)
    args.output.mkdir(parents=True, exist_ok=True)
    if args.only_loop:
        run_one_loop(settings, args.output.resolve(), args.only_loop, args.loop_seed)
        return 0
    summary = run(settings, args.output)
    print_summary(summary)
    (args.output / 'summary.json').write_text(json.dumps(summary, indent=2, default=float))
    print(f'\nwall time {summary["timings_s"]["total"] / 60:.1f} min; written: {args.output / "summary.json"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
