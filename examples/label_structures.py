"""Label your own structures with Quantum ESPRESSO: the labelling stage alone.

    verdi -p mlipgen run examples/label_structures.py FILE [FILE ...] [--protocol fast] [--code pw@localhost]

FILE: anything ASE reads (extxyz with many frames, CIF, POSCAR, ...). Prints the dataset summary and
the frames that failed, and writes the labelled frames to ``labelled.extxyz``.
"""

import argparse

from aiida import orm
from aiida.engine import run_get_node
from ase.io import read

from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.workflows.labelling import LabellingWorkChain

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument('files', nargs='+', help='structure files (all frames of each are labelled)')
parser.add_argument('--protocol', default='fast', choices=['fast', 'balanced', 'stringent'])
parser.add_argument('--code', default='pw@localhost', help='label of the pw.x code')
parser.add_argument('--pseudo-family', default='mlipgen/debian-pbe')
parser.add_argument('--output', default='labelled.extxyz')
args = parser.parse_args()

frames = [atoms for path in args.files for atoms in read(path, index=':')]
unlabelled = DatasetData(frames)
builder = LabellingWorkChain.get_builder_from_protocol(
    orm.load_code(args.code), unlabelled, protocol=args.protocol, pseudo_family=args.pseudo_family
)
results, node = run_get_node(builder)
print(f'LabellingWorkChain<{node.pk}> finished with exit status {node.exit_status}')
for key, record in sorted(results['failures'].get_dict().items()):
    print(f'  left out {key}: [{record["stage"]}] {record["reason"]}')
if 'dataset' in results:
    dataset = results['dataset']
    print(f'dataset DatasetData<{dataset.pk}>: {dataset.num_frames} frames, species {dataset.species}')
    print(f'written to {dataset.export(args.output)}')
