"""``mlipgen-evaluate``: committee deviations of every frame of a trajectory file.

Reads frames with ``ase.io`` (extxyz, LAMMPS dump, ...), evaluates them with a committee of NequIP
models in batches, and writes

- an extxyz with every input frame (as read, labels included) and, in ``info``, the committee
  deviations ``max_force_deviation``, ``mean_force_deviation`` (eV/A),
  ``energy_deviation_per_atom`` (eV/atom), ``stress_deviation`` (eV/A^3; nan without a cell),
  optionally the committee mean predictions under ``committee_*`` names (never as labels);
- a JSON summary: inputs, timings and per-frame deviation lists with their statistics.

It is the program the ``mlipgen.evaluate`` CalcJob runs on the compute node.
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

from aiida_mlipgen.science.contract import DEVIATION_UNITS
from aiida_mlipgen.science.extxyz import write_extxyz

from .committee import Committee, CommitteePrediction

#: Deviation fields written per frame (``info`` keys and JSON lists), with their units: the contract's.
DEVIATION_FIELDS = DEVIATION_UNITS


def annotate_frames(frames: Sequence[Atoms], prediction: CommitteePrediction, with_mean: bool = False) -> None:
    """Put each frame's committee deviations (and optionally the committee mean) in its ``info``."""
    for index, atoms in enumerate(frames):
        deviation = prediction.frame_deviation(index)
        for name in DEVIATION_FIELDS:
            atoms.info[name] = getattr(deviation, name)
        if with_mean:
            mean = prediction.mean(index)
            atoms.info['committee_energy'] = mean['energy']
            atoms.info['committee_stress'] = np.asarray(mean['stress'])
            atoms.arrays['committee_forces'] = np.asarray(mean['forces'])


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def deviation_summary(frames: Sequence[Atoms]) -> dict:
    """Per-frame deviation lists and their min/mean/max (nan -> null), from annotated frames."""
    summary = {}
    for name, unit in DEVIATION_FIELDS.items():
        values = np.array([atoms.info[name] for atoms in frames], dtype=float)
        finite = values[np.isfinite(values)]
        summary[name] = {
            'unit': unit,
            'values': [_json_float(value) for value in values],
            'min': float(finite.min()) if finite.size else None,
            'mean': float(finite.mean()) if finite.size else None,
            'max': float(finite.max()) if finite.size else None,
        }
    return summary


def read_frames(path: str | Path, file_format: str | None = None, type_symbols: list[str] | None = None) -> list[Atoms]:
    """Read every frame of ``path`` with ``ase.io.read``.

    Frames of LAMMPS dumps lose their calculator: ASE gives them an invented energy of 0 eV, which
    must not travel on as if it were a label.

    :param type_symbols: chemical symbols of LAMMPS atom types 1, 2, ... (LAMMPS dumps only).
    :raises FileNotFoundError: if ``path`` does not exist.
    :raises ValueError: if the file holds no frame.
    """
    from ase.io import read
    from ase.io.formats import filetype

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'input file `{path}` does not exist')
    file_format = file_format or filetype(str(path), guess=False)
    kwargs = {'specorder': type_symbols} if type_symbols else {}
    frames = read(str(path), index=':', format=file_format, **kwargs)
    if not frames:
        raise ValueError(f'no frames in `{path}`')
    if file_format.startswith('lammps-dump'):
        for atoms in frames:
            atoms.calc = None
    return frames


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='mlipgen-evaluate',
        description='Evaluate a committee of NequIP models on every frame of a file and write the '
        'committee deviations (DP-GEN definitions) per frame.',
    )
    parser.add_argument('--models', nargs='+', required=True, help='model files (.nequip.zip, .ckpt, .nequip.pt2)')
    parser.add_argument('--input', required=True, type=Path, help='frames to evaluate (any ase.io format)')
    parser.add_argument('--format', default=None, help='ase.io format of --input (default: from the file name)')
    parser.add_argument(
        '--type-symbols', nargs='+', default=None, help='chemical symbols of LAMMPS atom types 1, 2, ... (dumps)'
    )
    parser.add_argument('--output', type=Path, default=Path('evaluated.extxyz'), help='annotated extxyz to write')
    parser.add_argument('--summary', type=Path, default=Path('evaluation.json'), help='JSON summary to write')
    parser.add_argument('--device', default='cpu', choices=('cpu', 'cuda'), help='where to run the models')
    parser.add_argument('--batch-size', type=int, default=16, help='frames per forward pass')
    parser.add_argument(
        '--with-mean', action='store_true', help='also write committee mean energy/forces/stress (committee_*)'
    )
    return parser


def run(args: argparse.Namespace) -> dict:
    """Evaluate, write both outputs, and return the summary."""
    import torch

    if args.batch_size < 1:
        raise ValueError(f'--batch-size must be a positive integer, got {args.batch_size}')
    frames = read_frames(args.input, args.format, args.type_symbols)
    start = time.perf_counter()
    committee = Committee.from_files(args.models, device=args.device)
    committee.check_species(frames)
    loaded = time.perf_counter()
    prediction = committee.predict(frames, batch_size=args.batch_size)
    evaluated = time.perf_counter()
    annotate_frames(frames, prediction, with_mean=args.with_mean)
    write_extxyz(args.output, frames)

    summary = {
        'num_frames': len(frames),
        'num_atoms': [len(atoms) for atoms in frames],
        'num_members': len(committee),
        'models': [str(path) for path in args.models],
        'model_dtypes': [member.model_dtype for member in committee.members],
        'species': committee.species,
        'device': args.device,
        'torch_threads': torch.get_num_threads(),
        'batch_size': args.batch_size,
        'load_seconds': loaded - start,
        'evaluation_seconds': evaluated - loaded,
        'frames_per_second': len(frames) / max(evaluated - loaded, 1e-12),
        'deviations': deviation_summary(frames),
    }
    args.summary.write_text(json.dumps(summary, indent=2), encoding='utf-8')
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status (2 for bad input)."""
    args = build_parser().parse_args(argv)
    try:
        summary = run(args)
    except (ValueError, FileNotFoundError) as exception:
        print(f'mlipgen-evaluate: error: {exception}', file=sys.stderr)
        return 2
    deviations = summary['deviations']['max_force_deviation']
    print(
        f'evaluated {summary["num_frames"]} frames with {summary["num_members"]} models in '
        f'{summary["evaluation_seconds"]:.2f} s; max force deviation {deviations["min"]:.4f} - '
        f'{deviations["max"]:.4f} eV/A'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
