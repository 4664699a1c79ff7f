"""Diversity selection vs DP-GEN's random cut: test error of NequIP models trained on each.

One active-learning selection step, with a cheap teacher standing in for DFT:

1. Teacher: Stillinger-Weber Si (matscipy's pure-Python ``Manybody`` calculator, PRB 31, 5262).
   Pool: ASE Langevin MD of a diamond-Si supercell at every (temperature, linear strain) condition,
   frames labelled with SW energies, forces and stresses. Test set: the same conditions, but from
   independent trajectories (other random seeds), so no test frame is in, or correlated with, the pool.
2. Initial set: rattled and volume-strained copies of the supercell
   (:func:`aiida_mlipgen.science.initial_set.initial_frames`). A committee of NequIP models (same
   config, different seeds) is trained on it with the real ``nequip-train``, packaged with
   ``nequip-package build`` and evaluated on the pool with
   :class:`aiida_mlipgen.engines.committee.Committee` (DP-GEN max force deviation per frame).
3. Candidates: pool frames inside the force trust window [lo, hi). DP-GEN's 0.05 / 0.15 eV/A suit
   production models; tiny models trained on a handful of frames deviate far more, so by default lo
   and hi are quantiles of the pool's deviations (``--trust-quantiles``); ``--trust-window`` sets
   them in eV/A instead.
4. At every budget B, B candidates are picked by farthest-point sampling on structural descriptors
   (:func:`aiida_mlipgen.science.candidates.select_candidates_from_frames`, the initial set as the
   training set, so its near-duplicates are never picked) and by the seeded random cut of the same
   candidates (:func:`aiida_mlipgen.science.selection.random_selection`, several seeds). One model
   per pick set (same config and training seed) is trained on initial set + picks for the same
   number of optimiser steps; its energy MAE (meV/atom), force RMSE and largest force error (eV/A)
   and stress MAE (GPa) against SW on the test set are printed
   (:func:`aiida_mlipgen.science.metrics.compare_frames`), with the FPS / random ratio and the force
   RMSE per test temperature.

A script that prints its figures; no assertions, not part of the test suite. Defaults take about
10-15 min on a 2-core CPU machine::

    .venv/bin/python benchmarks/selection.py
    .venv/bin/python benchmarks/selection.py --budgets 8 16 --random-seeds 0 1 --steps 300   # quicker
    .venv/bin/python benchmarks/selection.py --json results.json --keep work/                # keep files
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from phases import MDSettings, langevin_frames

from aiida_mlipgen.calculations.nequip_config import TrainingData, build_config, config_to_yaml
from aiida_mlipgen.engines.committee import Committee
from aiida_mlipgen.engines.evaluate import annotate_frames
from aiida_mlipgen.science.candidates import select_candidates_from_frames
from aiida_mlipgen.science.contract import MAX_FORCE_DEVIATION
from aiida_mlipgen.science.initial_set import InitialSetRecipe, initial_frames
from aiida_mlipgen.science.metrics import compare_frames
from aiida_mlipgen.science.selection import parse_selection_parameters, random_selection
from aiida_mlipgen.science.teacher import label_frames, stillinger_weber_silicon
from aiida_mlipgen.workflows.nequip_train_base import NequipTrainBaseWorkChain

#: The model of every benchmarked training: the ``fast`` protocol's (2 layers x 16 features, l_max 1,
#: cutoff 4 A, float32) in the package's own training template, batches of 4 frames, on the CPU.
HYPERPARAMETERS = {
    **NequipTrainBaseWorkChain.get_protocol_inputs('fast')['nequip']['hyperparameters'],
    'batch_size': 4,
    'device': 'cpu',
}


def training_config(train_file: Path, validation_file: Path, seed: int, steps: int) -> dict:
    """The ``nequip-train`` config of one benchmarked model: ``steps`` optimiser steps, last weights kept.

    Unlike the loop's trainings (best epoch on the validation set, learning rate cut on plateaus), every
    model here trains for the same number of steps with a cosine decay of the learning rate and no
    validation, so that the models differ only by their training frames.
    """
    data = TrainingData(
        training_file=str(train_file), validation_file=str(validation_file), species=['Si'], has_stress=True
    )
    config = build_config(HYPERPARAMETERS, seed=seed, data=data)
    config['trainer'] |= {
        'max_epochs': -1,
        'max_steps': steps,
        'limit_val_batches': 0,
        'num_sanity_val_steps': 0,
        'enable_model_summary': False,
        'logger': False,
        'callbacks': [
            {
                '_target_': 'lightning.pytorch.callbacks.ModelCheckpoint',
                'dirpath': '${hydra:runtime.output_dir}',
                'filename': 'last',
            }
        ],
    }
    config['training_module']['lr_scheduler'] = {
        'scheduler': {'_target_': 'torch.optim.lr_scheduler.CosineAnnealingLR', 'T_max': steps, 'eta_min': 2e-4},
        'interval': 'step',
        'frequency': 1,
    }
    return config


#: Langevin MD: 2 fs steps, friction 0.02 / fs; steps before the first kept frame.
MD_SETTINGS = MDSettings(timestep_fs=2.0, damping_fs=50.0)
EQUILIBRATION_STEPS = 100
#: Seed offset of the test trajectories (the pool uses ``--seed``), so the two never share one.
TEST_SEED_OFFSET = 1000


def supercell(repeat: Sequence[int]) -> Atoms:
    """Cubic diamond Si (a = 5.431 A, the SW equilibrium) repeated ``repeat`` times."""
    return bulk('Si', 'diamond', a=5.431, cubic=True).repeat(tuple(repeat))


def condition_label(num_atoms: int, temperature: float, strain: float) -> str:
    """E.g. ``Si16_T900_s+3`` for 16 atoms at 900 K under +3 % linear strain."""
    return f'Si{num_atoms}_T{temperature:g}_s{100 * strain:+g}'


def md_frames(
    base: Atoms,
    temperatures: Sequence[float],
    strains: Sequence[float],
    frames_per_condition: int,
    interval: int,
    seed: int,
) -> list[Atoms]:
    """SW-labelled frames of Langevin MD at every (temperature K, linear strain) pair.

    Each condition starts from ``base`` scaled by (1 + strain), velocities drawn at the temperature,
    runs :data:`EQUILIBRATION_STEPS` then keeps one frame every ``interval`` steps. Frames carry
    ``condition``, ``temperature_K`` and ``strain`` in their info.
    """
    frames = []
    for index, (temperature, strain) in enumerate((t, s) for t in temperatures for s in strains):
        atoms = base.copy()
        atoms.set_cell(atoms.cell * (1 + strain), scale_atoms=True)
        info = {
            'condition': condition_label(len(atoms), temperature, strain),
            'temperature_K': float(temperature),
            'strain': float(strain),
        }
        frames += langevin_frames(
            atoms, temperature, frames_per_condition, interval, seed * 10_000 + index, EQUILIBRATION_STEPS,
            MD_SETTINGS, info=info,
        )  # fmt: skip
    return frames


def clean(frames: Sequence[Atoms]) -> list[Atoms]:
    """Copies holding only atoms and the teacher's labels (no deviations or other info)."""
    copies = []
    for atoms in frames:
        copy = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        copy.calc = SinglePointCalculator(copy, **atoms.calc.results)
        copies.append(copy)
    return copies


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@dataclass
class Job:
    """One command-line job: its name, command and log file."""

    name: str
    command: list[str]
    log: Path
    started: float = 0.0
    seconds: float = 0.0


def run_jobs(jobs: Sequence[Job], parallel: int) -> None:
    """Run ``jobs`` at most ``parallel`` at a time, one thread each; raise with the log of a failed one."""
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    waiting, running = list(jobs), []
    while waiting or running:
        while waiting and len(running) < parallel:
            job = waiting.pop(0)
            handle = open(job.log, 'w')  # noqa: SIM115 - closed when the job ends
            job.started = time.perf_counter()
            running.append(
                (job, handle, subprocess.Popen(job.command, stdout=handle, stderr=subprocess.STDOUT, env=env))
            )
        time.sleep(0.5)
        for entry in list(running):
            job, handle, process = entry
            code = process.poll()
            if code is None:
                continue
            handle.close()
            running.remove(entry)
            job.seconds = time.perf_counter() - job.started
            if code != 0:
                for _, _, other in running:
                    other.terminate()
                raise RuntimeError(f'{job.name} failed (exit {code}):\n{job.log.read_text()[-3000:]}')


def train_job(
    workdir: Path, name: str, training: Sequence[Atoms], validation_file: Path, seed: int, steps: int
) -> tuple[Job, Path]:
    """The ``nequip-train`` job of one model and the path of the checkpoint it will write."""
    folder = workdir / name
    folder.mkdir(parents=True, exist_ok=True)
    train_file = folder / 'train.extxyz'
    write(train_file, clean(training), format='extxyz')
    (folder / 'config.yaml').write_text(config_to_yaml(training_config(train_file, validation_file, seed, steps)))
    command = [_tool('nequip-train'), '-cp', str(folder), '-cn', 'config', f'hydra.run.dir={folder / "run"}']
    return Job(name, command, folder / 'train.log'), folder / 'run' / 'last.ckpt'


def predicted_frames(committee: Committee, frames: Sequence[Atoms]) -> list[Atoms]:
    """The frames with the (single-member) committee's energies, forces and stresses as their results."""
    prediction = committee.predict(frames, batch_size=16)
    predicted = []
    for index, atoms in enumerate(frames):
        copy = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        copy.calc = SinglePointCalculator(copy, **prediction.member(0, index))
        predicted.append(copy)
    return predicted


def _errors(reference: Sequence[Atoms], predicted: Sequence[Atoms]) -> dict[str, float]:
    report = compare_frames(reference, predicted)
    return {
        'energy_mae_meV_per_atom': 1000 * report['energy_per_atom']['mae'],
        'force_rmse_eV_per_A': report['forces']['rmse'],
        'force_mae_eV_per_A': report['forces']['mae'],
        'force_max_abs_eV_per_A': report['forces']['max_abs'],
        'stress_mae_GPa': report['stress']['mae'],
    }


def model_errors(
    checkpoint: Path, test: Sequence[Atoms], group_by: str = 'temperature_K', group_name: str = 'by_temperature'
) -> dict:
    """Errors of a model on ``test``, overall and per value of ``info[group_by]`` (key ``group_name``).

    Energy MAE in meV/atom, force RMSE / MAE / largest component error in eV/A, stress MAE in GPa.
    """
    predicted = predicted_frames(Committee.from_files([checkpoint]), test)
    errors = _errors(test, predicted)
    groups = {}
    for value in sorted({atoms.info[group_by] for atoms in test}):
        chosen = [index for index, atoms in enumerate(test) if atoms.info[group_by] == value]
        key = value if isinstance(value, str) else f'{value:g}'
        groups[key] = _errors([test[i] for i in chosen], [predicted[i] for i in chosen])
    return errors | {group_name: groups}


def composition(frames: Sequence[Atoms], indices: Sequence[int]) -> str:
    """How many of the picked frames come from each temperature, e.g. ``300:2 900:5``."""
    counts = Counter(frames[index].info['temperature_K'] for index in indices)
    return ' '.join(f'{temperature:g}:{counts[temperature]}' for temperature in sorted(counts))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--budgets', type=int, nargs='+', default=[8, 16, 32], help='frames picked per method')
    parser.add_argument('--random-seeds', type=int, nargs='+', default=[0, 1, 2], help='seeds of the random cut')
    parser.add_argument('--committee-size', type=int, default=4, help='members of the selecting committee')
    parser.add_argument('--temperatures', type=float, nargs='+', default=[300, 600, 900, 1200, 1500], help='K')
    parser.add_argument('--strains', type=float, nargs='+', default=[-0.03, 0.0, 0.03], help='linear strains')
    parser.add_argument('--repeat', type=int, nargs=3, default=[2, 1, 1], help='supercell of the 8-atom cubic cell')
    parser.add_argument('--pool-frames', type=int, default=20, help='pool frames per condition')
    parser.add_argument('--test-frames', type=int, default=6, help='test frames per condition')
    parser.add_argument('--interval', type=int, default=10, help='MD steps between kept frames')
    parser.add_argument('--steps', type=int, default=600, help='optimiser steps of every benchmarked model')
    parser.add_argument('--committee-steps', type=int, default=400, help='optimiser steps of committee members')
    parser.add_argument('--train-seed', type=int, default=7, help='seed of every benchmarked model')
    parser.add_argument(
        '--trust-quantiles',
        type=float,
        nargs=2,
        default=[0.2, 0.95],
        help='lo and hi of the force trust window as quantiles of the pool deviations',
    )
    parser.add_argument('--trust-window', type=float, nargs=2, help='lo and hi in eV/A (overrides the quantiles)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the pool trajectories and the initial set')
    parser.add_argument('--parallel', type=int, default=2, help='trainings run at once (one thread each)')
    parser.add_argument('--threads', type=int, default=2, help='torch threads of this process (inference)')
    parser.add_argument('--json', type=Path, help='write every figure to this JSON file')
    parser.add_argument('--keep', type=Path, help='keep the data, logs and models in this folder')
    return parser


def _stage(timings: dict, name: str, start: float) -> float:
    now = time.perf_counter()
    timings[name] = now - start
    print(f'  [{name}: {now - start:.0f} s]', flush=True)
    return now


def run(args: argparse.Namespace, workdir: Path) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    timings: dict[str, float] = {}
    clock = begin = time.perf_counter()
    load = os.getloadavg()
    print(f'{os.cpu_count()} CPU cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at start')

    # 1. Pool, test set and initial set, labelled with Stillinger-Weber.
    base = supercell(args.repeat)
    pool = md_frames(base, args.temperatures, args.strains, args.pool_frames, args.interval, args.seed)
    test = md_frames(
        base, args.temperatures, args.strains, args.test_frames, args.interval, args.seed + TEST_SEED_OFFSET
    )
    recipe = InitialSetRecipe(
        rattle_amplitudes_A=(0.03, 0.1), copies_per_amplitude=2, volume_changes_percent=(-6.0, 6.0),
        include_seed=False, seed=args.seed,
    )  # fmt: skip
    initial = label_frames(initial_frames([base], recipe), stillinger_weber_silicon())
    validation_file = workdir / 'validation.extxyz'  # read by nequip's data module, never evaluated
    write(validation_file, clean(initial[:2]), format='extxyz')
    print(
        f'pool {len(pool)} frames, test {len(test)} frames ({len(base)} atoms; '
        f'{len(args.temperatures)} temperatures x {len(args.strains)} strains), initial set {len(initial)} frames'
    )
    clock = _stage(timings, 'data', clock)

    # 2. Committee on the initial set; deviations on the pool.
    jobs, checkpoints = [], []
    for member in range(args.committee_size):
        job, checkpoint = train_job(
            workdir, f'committee{member}', initial, validation_file, 100 + member, args.committee_steps
        )
        jobs.append(job)
        checkpoints.append(checkpoint)
    run_jobs(jobs, args.parallel)
    packages = [workdir / f'committee{member}.nequip.zip' for member in range(args.committee_size)]
    run_jobs(
        [
            Job(f'package{member}', [_tool('nequip-package'), 'build', str(ckpt), str(pkg)], pkg.with_suffix('.log'))
            for member, (ckpt, pkg) in enumerate(zip(checkpoints, packages, strict=True))
        ],
        args.parallel,
    )
    committee = Committee.from_files(packages)
    annotate_frames(pool, committee.predict(pool, batch_size=16))
    deviations = np.array([atoms.info[MAX_FORCE_DEVIATION] for atoms in pool])
    if args.trust_window:
        lo, hi = args.trust_window
        window_source = 'given'
    else:
        lo, hi = (float(value) for value in np.quantile(deviations, args.trust_quantiles))
        window_source = f'pool quantiles {args.trust_quantiles[0]:g} / {args.trust_quantiles[1]:g}'
    print(
        f'committee of {args.committee_size}: pool max force deviation {deviations.min():.3f} / '
        f'{np.median(deviations):.3f} / {deviations.max():.3f} eV/A (min / median / max); '
        f'trust window [{lo:.3f}, {hi:.3f}) eV/A ({window_source})'
    )
    clock = _stage(timings, 'committee', clock)

    # 3. Picks at every budget. FPS is greedy and deterministic, so its first B picks at the largest
    # budget are its picks at budget B: one call selects for every budget. The random cut is the
    # package's `method='random'` path (a seeded cut of the candidates that are not near-duplicates of
    # the training set), applied to that call's candidates so descriptors are computed once.
    parameters = parse_selection_parameters(
        {'max_selected': max(args.budgets), 'method': 'fps'}, trust_levels={'force_trust_lo': lo, 'force_trust_hi': hi}
    )
    selection = select_candidates_from_frames(pool, parameters, training_frames=initial)
    statistics = selection.statistics
    duplicates = set(selection.duplicates_of_training)
    remaining = [index for index in selection.candidates if index not in duplicates]
    picks: dict[str, tuple[int, str, int | None, list[int]]] = {'initial': (0, 'initial only', None, [])}
    for budget in sorted(args.budgets):
        picks[f'fps_B{budget}'] = (budget, 'fps', None, selection.selected[:budget])
        for seed in args.random_seeds:
            chosen = [remaining[pick] for pick in random_selection(len(remaining), budget, seed)]
            picks[f'random_B{budget}_s{seed}'] = (budget, 'random', seed, chosen)
    overall = statistics['overall']
    print(
        f'pool classes: {overall["accurate"]} accurate, {overall["candidate"]} candidates, '
        f'{overall["failed"]} failed; {len(duplicates)} candidates are near-duplicates of the initial set'
    )
    for name, (_, _, _, indices) in picks.items():
        if indices:
            print(f'  {name:16s} {len(indices):3d} frames, by temperature (K:frames) {composition(pool, indices)}')
    clock = _stage(timings, 'selection', clock)

    # 4. One model per pick set, same config and seed; test errors against SW.
    jobs, models = [], {}
    for name, (_, _, _, indices) in picks.items():
        job, checkpoint = train_job(
            workdir, name, initial + [pool[index] for index in indices], validation_file, args.train_seed, args.steps
        )
        jobs.append(job)
        models[name] = checkpoint
    run_jobs(jobs, args.parallel)
    training_seconds = [job.seconds for job in jobs]
    print(
        f'{len(jobs)} models trained, {np.mean(training_seconds):.0f} s each on average (wall, {args.parallel} at once)'
    )
    clock = _stage(timings, 'training', clock)

    rows = []
    for name, (budget, method, seed, indices) in picks.items():
        errors = model_errors(models[name], test)
        rows.append(
            {
                'name': name,
                'budget': budget,
                'method': method,
                'seed': seed,
                'num_training': len(initial) + len(indices),
            }
            | errors
        )
    _stage(timings, 'evaluation', clock)
    timings['total'] = time.perf_counter() - begin
    load = os.getloadavg()
    print(f'load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end')
    return {
        'settings': {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
        'num_pool': len(pool),
        'num_test': len(test),
        'num_initial': len(initial),
        'atoms_per_frame': len(base),
        'trust_window_eV_per_A': [lo, hi],
        'trust_window_source': window_source,
        'pool_classes': {key: overall[key] for key in ('accurate', 'candidate', 'failed')},
        'rows': rows,
        'timings_s': timings,
    }


def print_table(results: dict) -> None:
    """The per-model table, then per budget FPS vs the random cut's mean (and the ratio)."""
    rows = results['rows']
    print()
    print(f'Test set: {results["num_test"]} frames of {results["atoms_per_frame"]} atoms; errors vs Stillinger-Weber')
    print(
        f'{"model":16s} {"frames":>6s} {"E MAE meV/atom":>15s} {"F RMSE eV/A":>12s} {"F max eV/A":>11s} '
        f'{"S MAE GPa":>10s}'
    )
    for row in rows:
        print(
            f'{row["name"]:16s} {row["num_training"]:6d} {row["energy_mae_meV_per_atom"]:15.2f} '
            f'{row["force_rmse_eV_per_A"]:12.4f} {row["force_max_abs_eV_per_A"]:11.3f} {row["stress_mae_GPa"]:10.3f}'
        )
    print()
    header = (
        f'{"budget":>6s} {"FPS E":>8s} {"random E (mean +- std)":>24s} {"E ratio":>8s}  '
        f'{"FPS F":>8s} {"random F (mean +- std)":>24s} {"F ratio":>8s}'
    )
    print('E: energy MAE, meV/atom; F: force RMSE, eV/A; ratio = FPS / random mean (< 1: FPS better)')
    print(header)
    summary = []
    for budget in sorted({row['budget'] for row in rows if row['method'] == 'fps'}):
        fps = next(row for row in rows if row['method'] == 'fps' and row['budget'] == budget)
        randoms = [row for row in rows if row['method'] == 'random' and row['budget'] == budget]
        line = {'budget': budget}
        text = f'{budget:6d}'
        for key, short, fmt in (('energy_mae_meV_per_atom', 'E', '.2f'), ('force_rmse_eV_per_A', 'F', '.4f')):
            values = np.array([row[key] for row in randoms])
            mean, std = float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0
            ratio = fps[key] / mean
            line |= {f'fps_{short}': fps[key], f'random_{short}_mean': mean, f'random_{short}_std': std,
                     f'{short}_ratio': ratio}  # fmt: skip
            text += f' {fps[key]:8{fmt}} {f"{mean:{fmt}} +- {std:{fmt}}":>24s} {ratio:8.2f} '
        summary.append(line)
        print(text)
    results['summary'] = summary

    temperatures = list(rows[0]['by_temperature'])
    print()
    print('Force RMSE (eV/A) per test temperature (K): FPS / random mean')
    print(f'{"budget":>6s} ' + ' '.join(f'{temperature + " K":>15s}' for temperature in temperatures))
    initial = next(row for row in rows if row['method'] == 'initial only')
    print(f'{"0":>6s} ' + ' '.join(
        f'{initial["by_temperature"][t]["force_rmse_eV_per_A"]:>15.3f}' for t in temperatures
    ))  # fmt: skip
    for budget in sorted({row['budget'] for row in rows if row['method'] == 'fps'}):
        fps = next(row for row in rows if row['method'] == 'fps' and row['budget'] == budget)
        randoms = [row for row in rows if row['method'] == 'random' and row['budget'] == budget]
        cells = []
        for temperature in temperatures:
            mean = np.mean([row['by_temperature'][temperature]['force_rmse_eV_per_A'] for row in randoms])
            cells.append(f'{fps["by_temperature"][temperature]["force_rmse_eV_per_A"]:.3f} / {mean:.3f}')
        print(f'{budget:6d} ' + ' '.join(f'{cell:>15s}' for cell in cells))
    timings = results['timings_s']
    print()
    print('wall time: ' + ', '.join(f'{name} {seconds:.0f} s' for name, seconds in timings.items()))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        results = run(args, args.keep.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix='mlipgen-selection-') as folder:
            results = run(args, Path(folder))
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f'figures written to {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
