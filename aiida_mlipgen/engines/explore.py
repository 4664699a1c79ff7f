"""``mlipgen-explore``: exploration MD over a grid of conditions with a NequIP committee.

Reads one JSON/YAML input (see :mod:`.exploration_settings`), checks it and the committee's species
before any MD, runs one MD per condition (:func:`.ase_md.run_condition`) and writes

- ``sampled.extxyz``: the checked frames (all, or only candidates) with their deviations, class and
  condition in ``info``; no energies or forces (model predictions are not labels);
- ``exploration.json``: settings, per-condition statistics (accurate/candidate/failed counts,
  temperature reached, stopped early and why) and totals;
- ``trajectories/<condition>.extxyz`` every ``trajectory_interval`` steps, only when asked.

Both main outputs are rewritten after every condition, so a job killed by its wall time keeps the
finished conditions. It is the program the ``mlipgen.explore`` CalcJob runs on the compute node.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from aiida_mlipgen.science.contract import CANDIDATE
from aiida_mlipgen.science.extxyz import write_extxyz, write_frame
from aiida_mlipgen.science.selection import class_counts

from .ase_md import ConditionResult, run_condition
from .committee import Committee
from .exploration_settings import ExplorationSettings, load_settings


def _summary(settings: ExplorationSettings, committee: Committee, results: list[ConditionResult]) -> dict:
    import torch

    classes = [item for result in results for item in result.classes]
    return {
        'settings': settings.as_dict(),
        'committee': {
            'num_members': len(committee),
            'species': committee.species,
            'model_dtypes': [member.model_dtype for member in committee.members],
            'torch_threads': torch.get_num_threads(),
        },
        'num_conditions': len(settings.conditions()),
        'conditions_done': len(results),
        'conditions': [result.statistics(settings.steps) for result in results],
        'totals': class_counts(classes),
        'stopped_early': [result.condition.label for result in results if result.stopped_early],
    }


def explore(settings: ExplorationSettings, frames_file: Path, statistics_file: Path, trajectory_dir: Path) -> dict:
    """Run every condition, write the outputs, and return the summary.

    :raises ValueError: if a structure holds species the committee does not know (before any MD).
    """
    committee = Committee.from_files(settings.models, device=settings.device)
    if len(committee) < 2:
        raise ValueError('exploration needs a committee of at least two models')
    for name, atoms in settings.structures.items():
        unknown = committee.unknown_species(atoms)
        if unknown:
            raise ValueError(
                f'structure `{name}` contains species {unknown} that the committee does not know; '
                f'its models were trained on {committee.species}'
            )

    results: list[ConditionResult] = []
    kept = []
    for condition in settings.conditions():
        writer_handle = None
        if settings.full_trajectory:
            trajectory_dir.mkdir(parents=True, exist_ok=True)
            writer_handle = open(trajectory_dir / f'{condition.label}.extxyz', 'w', encoding='utf-8')  # noqa: SIM115
        try:
            writer = None if writer_handle is None else (lambda atoms, h=writer_handle: write_frame(h, atoms))
            result = run_condition(committee, settings, condition, trajectory_writer=writer)
        finally:
            if writer_handle is not None:
                writer_handle.close()
        results.append(result)
        kept.extend(
            frame
            for frame, item in zip(result.frames, result.classes, strict=True)
            if settings.write_frames == 'all' or item == CANDIDATE
        )
        write_extxyz(frames_file, kept)
        summary = _summary(settings, committee, results)
        statistics_file.write_text(json.dumps(summary, indent=2), encoding='utf-8')
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='mlipgen-explore',
        description='Exploration MD with a committee of NequIP models over a grid of conditions; '
        'writes sampled frames with committee deviations and per-condition statistics.',
    )
    parser.add_argument('input', type=Path, help='exploration input, JSON or YAML')
    parser.add_argument('--frames', type=Path, default=Path('sampled.extxyz'), help='sampled frames to write')
    parser.add_argument('--statistics', type=Path, default=Path('exploration.json'), help='statistics to write')
    parser.add_argument(
        '--trajectory-dir', type=Path, default=Path('trajectories'), help='where full trajectories go, if asked'
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status (2 for bad input, before any MD)."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.input)
        summary = explore(settings, args.frames, args.statistics, args.trajectory_dir)
    except (ValueError, FileNotFoundError) as exception:
        print(f'mlipgen-explore: error: {exception}', file=sys.stderr)
        return 2
    totals = summary['totals']
    print(
        f'explored {summary["conditions_done"]} conditions: {totals["total"]} checked frames, '
        f'{totals["accurate"]} accurate, {totals["candidate"]} candidates, {totals["failed"]} failed; '
        f'{len(summary["stopped_early"])} stopped early'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
