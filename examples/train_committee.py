"""Train a committee of four NequIP models on a small silicon dataset, on this machine's CPU.

    verdi -p mlipgen run examples/train_committee.py

Needs the profile, localhost computer and ``nequip-train@localhost`` code of ``mlipgen setup``. The
dataset is 60 rattled and strained 8-atom diamond cells labelled with Stillinger-Weber (matscipy), a
stand-in for DFT labels that takes a second; 10 % of it is held out for validation. The ``fast``
protocol (2 layers x 16 features, l_max 1, cutoff 4 A) is shortened to 20 epochs: four members in
parallel take a few minutes on two cores. Prints each member's validation errors and the spread.
"""

from aiida import orm
from aiida.engine import run_get_node

from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.science.teacher import sw_silicon_frames
from aiida_mlipgen.workflows.training import TrainingWorkChain

frames = sw_silicon_frames(60, seed=2024)
dataset = DatasetData(frames)
dataset.label = 'Si8 Stillinger-Weber, 60 frames (examples/train_committee.py)'
dataset.store()

builder = TrainingWorkChain.get_builder_from_protocol(
    orm.load_code('nequip-train@localhost'),
    dataset,
    protocol='fast',
    overrides={'train': {'nequip': {'hyperparameters': {'max_epochs': 20}}}},
)
print(f'training a committee of {builder.committee_size.value} on {dataset.num_frames} frames (dataset <{dataset.pk}>)')
results, node = run_get_node(builder)
if not node.is_finished_ok:
    raise SystemExit(f'TrainingWorkChain<{node.pk}> failed: {node.exit_message} (verdi process report {node.pk})')

keys = ('energy_mae_eV_per_atom', 'forces_mae_eV_per_A', 'forces_rmse_eV_per_A', 'stress_mae_GPa')
print(f'\n{"member":10s}' + ''.join(f'{key:>26s}' for key in keys))
for name, metrics in sorted(results['metrics'].items()):
    print(f'{name:10s}' + ''.join(f'{metrics[key]:26.4f}' for key in keys))
summary = results['summary'].get_dict()
print(f'{"mean":10s}' + ''.join(f'{summary["metrics"][key]["mean"]:26.4f}' for key in keys))
print(f'{"std":10s}' + ''.join(f'{summary["metrics"][key]["std"]:26.4f}' for key in keys))
print(f'\nmodels: {", ".join(f"{name} <{model.pk}>" for name, model in sorted(results["models"].items()))}')
print(f'TrainingWorkChain<{node.pk}>: verdi process report {node.pk}')
