"""A production-like active-learning loop for silicon on a SLURM cluster: DFT on CPU nodes, NequIP on GPUs.

Adapt, then submit from the machine that runs AiiDA (the daemon must be running)::

    verdi -p mlipgen run examples/production_silicon.py ~/mlipgen-cluster

The directory holds your filled-in copies of ``setup_profiles/slurm/options_cpu.yaml`` and
``options_gpu.yaml``; the computer ``cluster`` and its codes ``pw``, ``nequip-train``,
``mlipgen-explore`` and ``mlipgen-evaluate`` are made from the templates of the same directory, as
docs/cluster_setup.md describes. Compared with ``demo_silicon.py``:

- 64-atom diamond cells (2x2x2 conventional, about 10.9 A wide) rather than 8 atoms, plus a
  216-atom cell for exploration, so that MD sees long-wavelength phonons and the melt;
- the ``balanced`` protocols: recommended cutoffs, 3 layers x 32 features, 2000 MD steps;
- pw.x over a full CPU node, training, exploration and committee evaluation on one GPU each;
- budgets a project can afford: 1000 DFT calls or 5000 core-hours, at most 12 iterations, and a
  test force RMSE target of 0.05 eV/A on top of the accurate fraction of 0.9.

The loop is submitted, not run: follow it with ``verdi process report <pk>`` or
``mlipgen status <pk>``; ``mlipgen report <pk>`` and ``mlipgen export <pk>`` when it has stopped.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from aiida import orm
from ase.build import bulk

from aiida_mlipgen.workflows.active_learning import ActiveLearningWorkChain

#: Code labels of the cluster, as ``code_*.yaml`` in setup_profiles/slurm/ name them.
CODE_LABELS = {
    'pw': 'pw',
    'train': 'nequip-train',
    'explore': 'mlipgen-explore',
    'evaluate': 'mlipgen-evaluate',
}

#: What to change first for a new system: everything else follows the protocols.
OVERRIDES = {
    'max_iterations': 12,
    'max_dft_calls': 1000,
    'max_dft_core_hours': 5000.0,
    'target_force_rmse': 0.05,  # eV/A, on the held-out test set
    'selection': {'max_selected': 50},
    'label': {'pw': {'kpoints_distance': 0.25}},  # 1/A: 3x3x3 for the 64-atom cell
    'exploration_schedule': [
        {'temperatures_K': [300, 600]},
        {'temperatures_K': [300, 900, 1200]},
        {'temperatures_K': [600, 1200, 1700]},  # silicon melts at 1687 K
        {'temperatures_K': [900, 1700, 2200]},
    ],
    'explore': {'conditions': {'device': 'cuda'}},  # committee MD on the job's GPU
}


def diamond_silicon(repeat: int) -> orm.StructureData:
    """Diamond Si of ``repeat`` x ``repeat`` x ``repeat`` conventional cells (8 atoms each, a = 5.47 A, PBE)."""
    return orm.StructureData(ase=bulk('Si', 'diamond', a=5.47, cubic=True).repeat(repeat))


def build(computer: str, options_directory: Path, protocol: str = 'balanced'):
    """Return the builder of the loop on ``computer`` with the job options of ``options_directory``.

    :param computer: label of the AiiDA computer that holds the four codes.
    :param options_directory: holds ``options_cpu.yaml`` (pw.x) and ``options_gpu.yaml`` (NequIP).
    """
    cpu = yaml.safe_load((options_directory / 'options_cpu.yaml').read_text())
    gpu = yaml.safe_load((options_directory / 'options_gpu.yaml').read_text())
    codes = {name: orm.load_code(f'{label}@{computer}') for name, label in CODE_LABELS.items()}

    # The initial set is made from the 64-atom cell; exploration MD starts from it and from 216 atoms.
    seeds = {'si64': diamond_silicon(2)}
    builder = ActiveLearningWorkChain.get_builder_from_protocol(codes, seeds, protocol=protocol, overrides=OVERRIDES)
    builder.exploration_structures = {**seeds, 'si216': diamond_silicon(3)}
    builder.label.pw.pw.metadata.options = cpu
    builder.train.train.nequip.metadata.options = {**gpu, 'max_wallclock_seconds': 12 * 3600}
    builder.explore.explore.metadata.options = {**gpu, 'max_wallclock_seconds': 2 * 3600}
    builder.evaluate.metadata.options = {**gpu, 'max_wallclock_seconds': 1800}
    builder.evaluate.device = orm.Str('cuda')
    builder.group_label = orm.Str('mlipgen/si_production')
    return builder


if __name__ == '__main__':
    from aiida.engine import submit

    options_directory = Path(sys.argv[1] if len(sys.argv) > 1 else '.').expanduser()
    node = submit(build('cluster', options_directory))
    print(f'submitted ActiveLearningWorkChain<{node.pk}>: mlipgen status {node.pk}')
