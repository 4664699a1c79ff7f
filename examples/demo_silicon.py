"""The silicon demo: active learning on diamond Si with real pw.x, nequip-train and committee MD.

Run through ``make demo`` (which sets up the profile first) or ``verdi -p mlipgen run examples/demo_silicon.py``.
Prints the iteration table as the loop goes, writes ``demo-output/report.md``, ``iterations.json``, the
exported datasets and committee, benchmarks the final committee against pw.x and writes
``demo-output/report.html`` with its figures. Caching is on, so a second run reuses every finished calculation.
"""

from pathlib import Path

from aiida import orm
from aiida.engine import run_get_node
from aiida.manage.caching import enable_caching
from ase.build import bulk

from aiida_mlipgen.cli.html_report import write_html_report
from aiida_mlipgen.cli.reporting import export_loop, iteration_table
from aiida_mlipgen.workflows.active_learning import ActiveLearningWorkChain
from aiida_mlipgen.workflows.benchmark import BenchmarkWorkChain, labelling_inputs_of

OUTPUT = Path('demo-output')

codes = {
    'pw': orm.load_code('pw@localhost'),
    'train': orm.load_code('nequip-train@localhost'),
    'explore': orm.load_code('mlipgen-explore@localhost'),
    'evaluate': orm.load_code('mlipgen-evaluate@localhost'),
}
seeds = {'si8': orm.StructureData(ase=bulk('Si', 'diamond', a=5.43, cubic=True))}
# The demo's own settings on top of the fast protocol (docs/demo.md says why): a small initial set of rattled
# and strained crystals; the same three temperatures every iteration, so that the exploration test set measures
# one distribution as the committee learns it; a committee of 3, each trained from scratch on the whole set, for
# 100 epochs (at 40 the tiny models were still improving at the last epoch); 8 candidates per iteration; 21
# exploration test frames in the first iteration (7 per temperature, to reach 20), then 1 per temperature; 3 DFT
# runs at once on 2 cores, so that one run's AiiDA bookkeeping (upload, polling, parsing) overlaps the others.
DEMO_SETTINGS = {
    'max_iterations': 3,
    'initial_set': {'rattle_amplitudes_A': [0.05, 0.1, 0.15], 'copies_per_amplitude': 3},
    'retrain_from_scratch_every': 1,
    'train': {'committee_size': 3, 'train': {'nequip': {'hyperparameters': {'max_epochs': 100}}}},
    'exploration_schedule': [{'temperatures_K': [300, 900, 1500]}],
    'selection': {'max_selected': 8},
    'exploration_test': {'per_condition': 1, 'min_frames': 20},
    'label': {'max_concurrent': 3},
}
builder = ActiveLearningWorkChain.get_builder_from_protocol(codes, seeds, protocol='fast', overrides=DEMO_SETTINGS)
builder.group_label = orm.Str('mlipgen/demo_silicon')
print(
    'active learning on diamond silicon (fast protocol): initial set -> label -> '
    '[train -> explore -> select + hold out test frames -> label]'
)
with enable_caching():
    results, node = run_get_node(builder)

print(iteration_table(node))
paths = export_loop(node, OUTPUT)

# Is the final committee fit for use? Test-set errors, NVE stability, and EOS and phonons against pw.x with the
# loop's own DFT settings (BenchmarkWorkChain, fast protocol); then the HTML report with its figures.
print('\nbenchmark of the final committee: test errors, NVE, EOS and phonons against pw.x')
benchmark_builder = BenchmarkWorkChain.get_builder_from_protocol(
    {'benchmark': orm.load_code('mlipgen-benchmark@localhost'), 'pw': codes['pw']},
    models=dict(node.outputs.models),
    test_datasets={'held_out': node.outputs.test_dataset, 'exploration': node.outputs.exploration_test_dataset},
    reference_structures=seeds,
    protocol='fast',
    labelling_inputs=labelling_inputs_of(node),
    overrides={'trust_levels': builder.trust_levels.get_dict()},
)
with enable_caching():
    _, benchmark = run_get_node(benchmark_builder)
html = write_html_report(OUTPUT, loop=node, benchmark=benchmark)
verdicts = benchmark.outputs.metrics['passed']
print(
    f'benchmark (BenchmarkWorkChain<{benchmark.pk}>): '
    + ', '.join(f'{check} {"passed" if passed else "FAILED"}' for check, passed in sorted(verdicts.items()))
)
print(
    f'\nreport: {paths["report"]} and {html}\niterations: {paths["iterations"]}'
    f'\ntraining set: {paths["training_dataset"]}\nexploration test set: {paths.get("exploration_test_dataset")}'
    f'\ncommittee: {paths["models"]}'
)
