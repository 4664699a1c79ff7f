"""Benchmark the committee of a finished active-learning loop: test-set errors, NVE stability, EOS and phonons.

Run with ``verdi -p mlipgen run examples/benchmark_committee.py [LOOP_PK]`` (default: the newest finished loop).
The DFT references (EOS volumes, phonon displacements) are labelled with exactly the loop's labelling inputs;
the page ``benchmark-output/report.html`` shows the results with the loop's figures.
"""

import sys

from aiida import orm
from aiida.engine import run_get_node
from ase.build import bulk

from aiida_mlipgen.cli.html_report import write_html_report
from aiida_mlipgen.workflows.benchmark import BenchmarkWorkChain, labelling_inputs_of

if len(sys.argv) > 1:
    loop = orm.load_node(int(sys.argv[1]))
else:
    query = orm.QueryBuilder().append(
        orm.WorkChainNode, filters={'attributes.process_label': 'ActiveLearningWorkChain'}, project='*'
    )
    loop = next(
        node for node in query.order_by({orm.WorkChainNode: {'ctime': 'desc'}}).all(flat=True) if node.is_finished_ok
    )

codes = {'benchmark': orm.load_code('mlipgen-benchmark@localhost'), 'pw': orm.load_code('pw@localhost')}
builder = BenchmarkWorkChain.get_builder_from_protocol(
    codes,
    models=dict(loop.outputs.models),
    test_datasets={'held_out': loop.outputs.test_dataset},
    reference_structures={'si8': orm.StructureData(ase=bulk('Si', 'diamond', a=5.43, cubic=True))},
    protocol='fast',
    labelling_inputs=labelling_inputs_of(loop),  # the same pw.x settings as the training data
    # overrides={'eos': {'targets': {'lattice_constant_relative_error': 0.01}}},  # any target can change
)
results, node = run_get_node(builder)
metrics = results['metrics'].get_dict()
print(
    f'BenchmarkWorkChain<{node.pk}>: '
    + ', '.join(f'{name} {"pass" if ok else "FAIL"}' for name, ok in metrics['passed'].items())
)
print(f'report: {write_html_report("benchmark-output", loop=loop, benchmark=node)}')
