"""``mlipgen-benchmark``: what a potential predicts for benchmark checks, run on the compute node.

One JSON input names the potential (NequIP model files, driven by the committee mean or by member 0;
or a built-in teacher such as ``stillinger-weber-si``) and up to two tasks:

- ``predict``: energy, forces and stress of every frame of an extxyz file (test sets, EOS volumes,
  phonopy's displaced supercells). Writes ``predictions.extxyz``: the frames as read (labels kept) with
  the prediction under ``committee_energy``/``committee_forces``/``committee_stress`` (never as labels)
  and the committee deviations in ``info`` (nan for a single model).
- ``nve``: velocity-Verlet NVE runs from each structure at each temperature
  (:func:`aiida_mlipgen.science.md_stability.run_nve`). Writes ``nve.json`` (traces, drift, failure)
  and ``nve_frames.extxyz`` (frames every ``frame_interval`` steps, for radial distributions).

Example input::

    {"models": ["m0.nequip.zip", "m1.nequip.zip"], "driver": "mean", "device": "cpu",
     "predict": {"frames": "frames.extxyz", "batch_size": 8},
     "nve": {"structures": {"si8": "si8.extxyz"}, "temperatures_K": [300, 900], "steps": 300,
             "timestep_fs": 1.0, "interval": 5, "frame_interval": 25, "seed": 0,
             "min_distance_ratio": 0.5, "max_force_deviation": 0.5}}
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from aiida_mlipgen.science.contract import condition_label
from aiida_mlipgen.science.extxyz import write_extxyz

#: Built-in teachers that can stand in for a model (known answers: a teacher against its own labels).
TEACHERS = ('stillinger-weber-si',)
DRIVERS = ('mean', 'member0')
NVE_DEFAULTS = {
    'timestep_fs': 1.0,
    'interval': 5,
    'frame_interval': 25,
    'seed': 0,
    'min_distance_ratio': 0.5,
    'max_force_deviation': None,
}
NVE_REQUIRED = ('structures', 'temperatures_K', 'steps')


def check_input(data: dict) -> None:
    """Refuse an input the engine cannot run, before loading any model.

    :raises ValueError: naming what is wrong.
    """
    known = {'models', 'teacher', 'driver', 'device', 'predict', 'nve'}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f'unknown input keys {unknown}; known: {sorted(known)}')
    if bool(data.get('models')) == bool(data.get('teacher')):
        raise ValueError('give either `models` (NequIP model files) or a `teacher`, not both or neither')
    if data.get('teacher') and data['teacher'] not in TEACHERS:
        raise ValueError(f'unknown teacher `{data["teacher"]}`; known: {", ".join(TEACHERS)}')
    if data.get('driver', 'mean') not in DRIVERS:
        raise ValueError(f'`driver` must be one of {", ".join(DRIVERS)}, got `{data["driver"]}`')
    if 'predict' not in data and 'nve' not in data:
        raise ValueError('nothing to do: give a `predict` or an `nve` task')
    if 'predict' in data and 'frames' not in data['predict']:
        raise ValueError('the `predict` task needs `frames` (an extxyz file)')
    if 'nve' in data:
        nve = data['nve']
        missing = [key for key in NVE_REQUIRED if key not in nve]
        if missing:
            raise ValueError(f'the `nve` task lacks {", ".join(missing)}')
        unknown = sorted(set(nve) - set(NVE_REQUIRED) - set(NVE_DEFAULTS))
        if unknown:
            raise ValueError(f'unknown `nve` keys {unknown}')
        if int(nve['steps']) < 1 or not nve['temperatures_K'] or not nve['structures']:
            raise ValueError('the `nve` task needs steps >= 1, temperatures and structures')
        if any(float(t) <= 0 for t in nve['temperatures_K']):
            raise ValueError('NVE temperatures must be positive (K)')


class Potential:
    """The potential under test: a NequIP committee (mean or member 0) or a built-in teacher."""

    def __init__(self, data: dict, base: Path):
        self.driver = data.get('driver', 'mean')
        self.teacher = data.get('teacher')
        self.committee = None
        if self.teacher is None:
            from .committee import Committee

            paths = [base / path for path in data['models']]
            self.committee = Committee.from_files(paths, device=data.get('device', 'cpu'))

    @property
    def num_members(self) -> int:
        return 1 if self.committee is None else len(self.committee)

    def _teacher_calculator(self):
        from aiida_mlipgen.science.teacher import stillinger_weber_silicon

        return stillinger_weber_silicon()

    def predict(self, frames: Sequence[Atoms], batch_size: int = 8):
        """A :class:`CommitteePrediction` for ``frames`` (one member for a teacher)."""
        from .committee import CommitteePrediction

        if self.committee is not None:
            self.committee.check_species(frames)
            members = None if self.driver == 'mean' else [0]
            return self.committee.predict(frames, batch_size=batch_size, members=members)
        calculator = self._teacher_calculator()
        energies, forces, stresses = [], [], []
        for atoms in frames:
            copy = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
            copy.calc = calculator
            energies.append(copy.get_potential_energy())
            forces.append(copy.get_forces()[None])
            stresses.append(copy.get_stress())
        return CommitteePrediction(np.array([energies]), forces, np.array([stresses]))

    def calculator(self):
        """An ASE calculator driving MD with this potential."""
        if self.committee is None:
            return self._teacher_calculator()
        from .ase_md import CommitteeCalculator

        return CommitteeCalculator(self.committee, driver='mean' if self.driver == 'mean' else 'member0')

    def force_deviation(self):
        """Max force deviation of a frame (eV/A) for a committee of 2 or more; None otherwise."""
        if self.committee is None or len(self.committee) < 2:
            return None

        def deviation(atoms: Atoms) -> float:
            return atoms.calc.committee_prediction(atoms).frame_deviation(0).max_force_deviation

        return deviation


def run_predict(potential: Potential, task: dict, base: Path, output: Path) -> dict:
    """Predict every frame and write the annotated frames; return the task summary."""
    from .evaluate import DEVIATION_FIELDS, annotate_frames, read_frames

    frames = read_frames(base / task['frames'], 'extxyz')
    start = time.perf_counter()
    prediction = potential.predict(frames, batch_size=int(task.get('batch_size', 8)))
    if prediction.num_members > 1:
        annotate_frames(frames, prediction, with_mean=True)
    else:  # one model has no spread: the deviations are not defined
        for index, atoms in enumerate(frames):
            mean = prediction.mean(index)
            atoms.info.update({name: math.nan for name in DEVIATION_FIELDS})
            atoms.info['committee_energy'] = mean['energy']
            atoms.info['committee_stress'] = np.asarray(mean['stress'])
            atoms.arrays['committee_forces'] = np.asarray(mean['forces'])
    write_extxyz(output, frames)
    return {'num_frames': len(frames), 'seconds': time.perf_counter() - start}


def _finite(values) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values]


def run_nve_task(potential: Potential, task: dict, base: Path, summary_file: Path, frames_file: Path) -> dict:
    """Every (structure, temperature) NVE run; write traces and frames; return the summary."""
    from ase.io import read

    from aiida_mlipgen.science.md_stability import run_nve

    settings = {**NVE_DEFAULTS, **task}
    deviation = potential.force_deviation()
    runs, kept = [], []
    for name, path in sorted(settings['structures'].items()):
        atoms = read(base / path, index=0, format='extxyz')
        if potential.committee is not None:
            potential.committee.check_species([atoms])
        for index, temperature in enumerate(settings['temperatures_K']):
            label = condition_label(name, float(temperature))
            start = time.perf_counter()
            trace = run_nve(
                atoms,
                potential.calculator(),
                float(temperature),
                int(settings['steps']),
                timestep_fs=float(settings['timestep_fs']),
                interval=int(settings['interval']),
                seed=int(settings['seed']) + index,
                min_distance_ratio_bound=float(settings['min_distance_ratio']),
                max_force_deviation_bound=settings['max_force_deviation'] if deviation else None,
                force_deviation=deviation,
                frame_interval=int(settings['frame_interval']) or None,
            )
            for frame in trace.frames:
                frame.info.update(run=label, structure=name, target_temperature_K=float(temperature))
                kept.append(frame)
            runs.append(
                {
                    'label': label,
                    'structure': name,
                    'temperature_K': float(temperature),
                    'num_atoms': trace.num_atoms,
                    'timestep_fs': trace.timestep_fs,
                    'steps_requested': int(settings['steps']),
                    'steps_done': trace.steps_done,
                    'failure': trace.failure,
                    'failure_time_fs': trace.failure_time_fs,
                    'drift_eV_per_atom_per_ps': trace.drift_eV_per_atom_per_ps(),
                    'wall_seconds': time.perf_counter() - start,
                    'times_fs': trace.times_fs,
                    'potential_energies_eV': _finite(trace.potential_energies_eV),
                    'kinetic_energies_eV': _finite(trace.kinetic_energies_eV),
                    'temperatures_K': _finite(trace.temperatures_K),
                    'min_distance_ratios': _finite(trace.min_distance_ratios),
                    'max_force_deviations': _finite(trace.max_force_deviations),
                }
            )
            summary = {'settings': settings, 'driver': potential.driver, 'runs': runs}
            summary_file.write_text(json.dumps(summary, indent=1), encoding='utf-8')
            write_extxyz(frames_file, kept)
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='mlipgen-benchmark',
        description='Predictions and NVE stability runs of a NequIP committee (or a built-in teacher) for benchmarks.',
    )
    parser.add_argument('input', type=Path, help='JSON input (see the module documentation)')
    parser.add_argument('--predictions', type=Path, default=Path('predictions.extxyz'))
    parser.add_argument('--nve', type=Path, default=Path('nve.json'))
    parser.add_argument('--nve-frames', type=Path, default=Path('nve_frames.extxyz'))
    parser.add_argument('--summary', type=Path, default=Path('benchmark.json'))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; exit status 2 for input it refuses."""
    args = build_parser().parse_args(argv)
    try:
        data = json.loads(args.input.read_text(encoding='utf-8'))
        check_input(data)
        base = args.input.resolve().parent
        potential = Potential(data, base)
        summary = {'num_members': potential.num_members, 'driver': potential.driver, 'teacher': potential.teacher}
        if 'predict' in data:
            summary['predict'] = run_predict(potential, data['predict'], base, args.predictions)
        if 'nve' in data:
            runs = run_nve_task(potential, data['nve'], base, args.nve, args.nve_frames)['runs']
            summary['nve'] = {run['label']: run['failure'] for run in runs}
    except (ValueError, FileNotFoundError, json.JSONDecodeError) as exception:
        print(f'mlipgen-benchmark: error: {exception}', file=sys.stderr)
        return 2
    args.summary.write_text(json.dumps(summary, indent=2), encoding='utf-8')
    print(json.dumps(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
