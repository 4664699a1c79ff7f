"""Frames per second of batched committee inference vs a naive per-frame ASE-calculator loop.

Both sides evaluate the same N NequIP models on the same 64-atom Si frames (energies, forces and
stresses): the naive side with one ``NequIPCalculator`` per member, frame by frame; the batched
side with :class:`aiida_mlipgen.engines.committee.Committee` (neighbour lists built once per frame
and shared by the members, frames batched into one forward pass per member).

Models: ``--models`` files, or (default) freshly initialised NequIP models of the size given by
``--layers/--features/--l-max/--cutoff``; speed does not depend on the weights. ``--batched-models``
gives the batched side other files for the same models (e.g. ``nequip-compile --mode aotinductor
--target batch`` compilations) while the naive side keeps the eager ``--models``.

    python benchmarks/committee_eval.py                       # 4 members, 3 x 16, l_max 1, 4 A
    python benchmarks/committee_eval.py --models a.nequip.zip b.nequip.zip --threads 1
"""

from __future__ import annotations

import argparse
import time

import torch
from ase.build import bulk

from aiida_mlipgen.engines.committee import Committee
from aiida_mlipgen.engines.models import from_module, load_model


def build_untrained_members(count: int, layers: int, features: int, l_max: int, cutoff: float):
    """``count`` NequIP models for Si (seeds 0..count-1), initialised but not trained."""
    from nequip.model import NequIPGNNModel
    from nequip.utils.global_state import set_global_state

    set_global_state()
    members = []
    for seed in range(count):
        module = NequIPGNNModel(
            seed=seed,
            model_dtype='float64',
            type_names=['Si'],
            r_max=cutoff,
            num_layers=layers,
            num_features=features,
            l_max=l_max,
            radial_mlp_width=features * 2,
            avg_num_neighbors=16.0,
            per_type_energy_shifts={'Si': -4.3},
            per_type_energy_scales={'Si': 0.5},
        )
        members.append(from_module(module, path=f'untrained-seed{seed}'))
    return members


def si_frames(count: int, repeat: int, seed: int = 0):
    """Rattled (0.1 A) cubic diamond Si supercells of 8 * repeat^3 atoms."""
    frames = []
    for index in range(count):
        atoms = bulk('Si', 'diamond', a=5.43, cubic=True).repeat(repeat)
        atoms.rattle(0.1, seed=seed + index)
        frames.append(atoms)
    return frames


def naive_loop(members, frames) -> None:
    """One NequIPCalculator per member, frame by frame (energy, forces, stress each)."""
    from nequip.integrations.ase import NequIPCalculator

    calculators = [NequIPCalculator(model=m.module, device='cpu', transforms=m.transforms) for m in members]
    for atoms in frames:
        for calculator in calculators:
            copy = atoms.copy()
            copy.calc = calculator
            copy.get_potential_energy()
            copy.get_forces()
            copy.get_stress()


def best_time(function, repeats: int) -> tuple[float, float]:
    """Best wall-clock and best process CPU seconds of ``repeats`` calls of ``function()``.

    On a shared machine the wall clock is inflated by other processes; CPU time much less so.
    """
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', help='model files; default: untrained models of the size below')
    parser.add_argument(
        '--batched-models',
        nargs='+',
        help='files for the batched side only, e.g. AOTI `--target batch` compilations of --models',
    )
    parser.add_argument('--members', type=int, default=4)
    parser.add_argument('--layers', type=int, default=3)
    parser.add_argument('--features', type=int, default=16)
    parser.add_argument('--l-max', type=int, default=1)
    parser.add_argument('--cutoff', type=float, default=4.0, help='A')
    parser.add_argument('--frames', type=int, default=32)
    parser.add_argument('--repeat', type=int, default=2, help='supercell repeat of the 8-atom cubic cell')
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 8, 16, 32])
    parser.add_argument('--threads', type=int, default=None, help='torch threads (default: torch decides)')
    parser.add_argument('--repeats', type=int, default=3, help='timings per variant; the best is reported')
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.models:
        members = [load_model(path) for path in args.models]
        described = ', '.join(args.models)
    else:
        members = build_untrained_members(args.members, args.layers, args.features, args.l_max, args.cutoff)
        described = f'{args.members} untrained NequIP, {args.layers} layers x {args.features} features, '
        described += f'l_max {args.l_max}, cutoff {args.cutoff} A, float64'
    if args.batched_models:
        committee = Committee([load_model(path) for path in args.batched_models])
        described += f'; batched side: {", ".join(args.batched_models)}'
    else:
        committee = Committee(members)
    frames = si_frames(args.frames, args.repeat)

    print(f'device: cpu ({torch.get_num_threads()} torch threads), torch {torch.__version__}')
    print(f'committee: {described}')
    print(f'frames: {len(frames)} x {len(frames[0])} atoms, energies + forces + stresses')
    # warm-up (first calls allocate and pick kernels)
    naive_loop(members, frames[:2])
    committee.predict(frames[:4], batch_size=4)

    count = len(frames)
    naive_wall, naive_cpu = best_time(lambda: naive_loop(members, frames), args.repeats)
    print(f'{"variant":28s} {"frames/s (wall)":>16s} {"frames/s (CPU)":>15s} {"ratio wall":>11s} {"ratio CPU":>10s}')
    print(f'{"naive per-frame ASE loop":28s} {count / naive_wall:16.2f} {count / naive_cpu:15.2f}')
    ratios = {}
    for batch_size in args.batch_sizes:
        wall, cpu = best_time(lambda b=batch_size: committee.predict(frames, batch_size=b), args.repeats)
        ratios[batch_size] = (naive_wall / wall, naive_cpu / cpu)
        print(
            f'{f"batched committee, batch {batch_size}":28s} {count / wall:16.2f} {count / cpu:15.2f} '
            f'{ratios[batch_size][0]:11.2f} {ratios[batch_size][1]:10.2f}'
        )
    best = max(ratios, key=lambda b: ratios[b][1])
    print(f'best batched/naive: x{ratios[best][0]:.2f} (wall), x{ratios[best][1]:.2f} (CPU) at batch size {best}')


if __name__ == '__main__':
    main()
