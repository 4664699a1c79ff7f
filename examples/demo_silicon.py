"""The silicon demo: active learning on diamond Si with real pw.x, nequip-train and committee MD.

Run through ``make demo`` (which sets up the profile first) or ``verdi -p mlipgen run examples/demo_silicon.py``.
Prints the iteration table as the loop goes, and writes ``demo-output/report.md`` with the exported
training set and committee. Caching is on, so a second run reuses every finished calculation.
"""

from pathlib import Path

from aiida import orm
from aiida.engine import run_get_node
from aiida.manage.caching import enable_caching
from ase.build import bulk

from aiida_mlipgen.cli.reporting import export_loop, iteration_table
from aiida_mlipgen.workflows.active_learning import ActiveLearningWorkChain

OUTPUT = Path('demo-output')

codes = {
    'pw': orm.load_code('pw@localhost'),
    'train': orm.load_code('nequip-train@localhost'),
    'explore': orm.load_code('mlipgen-explore@localhost'),
    'evaluate': orm.load_code('mlipgen-evaluate@localhost'),
}
seeds = {'si8': orm.StructureData(ase=bulk('Si', 'diamond', a=5.43, cubic=True))}
# The demo's own settings on top of the fast protocol (docs/demo.md says why): the same three temperatures
# every iteration, so that the exploration test set measures one distribution as the committee learns it;
# each committee trained from scratch on the whole set; 8 candidates per iteration; 20 exploration test frames
# in the first iteration, then 2 per temperature.
DEMO_SETTINGS = {
    'max_iterations': 3,
    'retrain_from_scratch_every': 1,
    'exploration_schedule': [{'temperatures_K': [300, 900, 1500]}],
    'selection': {'max_selected': 8},
    'exploration_test': {'per_condition': 2, 'min_frames': 20},
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
print(
    f'\nreport: {paths["report"]}\niterations: {paths["iterations"]}\ntraining set: {paths["training_dataset"]}'
    f'\nexploration test set: {paths.get("exploration_test_dataset")}\ncommittee: {paths["models"]}'
)
