"""A Si-Ge active-learning loop: diamond Si and Ge seeds, an SQS alloy, vacancies, real pw.x labels.

Run with ``verdi -p mlipgen run examples/sige_loop.py`` after ``make setup`` (profile, codes and the
pseudo family, which has Si and Ge). The initial-set recipe of the fast protocol is extended with the
structure generators: a Si0.5Ge0.5 SQS (icet) at the Vegard volume, a vacancy in every seed and
phonopy finite displacements; exploration MD starts from the seeds and from an 8-atom SQS made by the
``generate_alloys`` calcfunction. The iteration table prints force errors per species; the report,
training set and committee are written to ``sige-output/``. Sizes are kept small (8-atom cells) so
that the DFT stays cheap on a laptop.
"""

from pathlib import Path

from aiida import orm
from aiida.engine import run_get_node
from aiida.manage.caching import enable_caching
from ase.build import bulk

from aiida_mlipgen.calculations.structure_generators import generate_alloys
from aiida_mlipgen.cli.reporting import export_loop, iteration_table
from aiida_mlipgen.workflows.active_learning import ActiveLearningWorkChain

OUTPUT = Path('sige-output')
#: A^3 per atom of diamond Si (a = 5.431 A) and Ge (a = 5.658 A): the alloy's volume by Vegard's law.
ATOMIC_VOLUMES_A3 = {'Si': 20.02, 'Ge': 22.64}
ALLOY = {
    'compositions': [{'Si': 0.5, 'Ge': 0.5}],
    'sublattice': 'Si',
    'min_atoms': 8,
    'atomic_volumes_A3': ATOMIC_VOLUMES_A3,
}

codes = {
    'pw': orm.load_code('pw@localhost'),
    'train': orm.load_code('nequip-train@localhost'),
    'explore': orm.load_code('mlipgen-explore@localhost'),
    'evaluate': orm.load_code('mlipgen-evaluate@localhost'),
}
seeds = {
    'si8': orm.StructureData(ase=bulk('Si', 'diamond', a=5.431, cubic=True)),
    'ge8': orm.StructureData(ase=bulk('Ge', 'diamond', a=5.658, cubic=True)),
}
overrides = {
    'max_iterations': 2,
    'initial_set': {
        'copies_per_amplitude': 2,
        'alloys': ALLOY,
        'point_defects': {'vacancies': True},
        'phonon_displacements': {'amplitudes_A': [0.03]},
    },
    'exploration_schedule': [{'temperatures_K': [300, 900]}, {'temperatures_K': [600, 1200]}],
}
builder = ActiveLearningWorkChain.get_builder_from_protocol(codes, seeds, protocol='fast', overrides=overrides)
sqs = generate_alloys(settings=orm.Dict(ALLOY), si8=seeds['si8'])
builder.exploration_structures = {**seeds, 'sige_sqs': sqs['si8_000']}
builder.group_label = orm.Str('mlipgen/sige_loop')
print('active learning on Si-Ge (fast protocol, with defects, SQS alloys and phonon displacements)')
with enable_caching():
    results, node = run_get_node(builder)

print(iteration_table(node))
paths = export_loop(node, OUTPUT)
print(f'\nreport: {paths["report"]}\ntraining set: {paths["training_dataset"]}\ncommittee: {paths["models"]}')
