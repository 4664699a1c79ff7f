"""Submit a labelling and a training to a profile's daemon and wait for both (run as a script by the tests).

Usage: python daemon_jobs.py PROFILE COMPUTER   (AIIDA_PATH selects the configuration folder)
Prints one JSON line: for each work chain its pk, process state, exit status and a few results.
Nothing here runs a process itself: only the daemon's workers can finish them.
"""

from __future__ import annotations

import json
import sys
import time

from aiida import load_profile, orm
from aiida.engine import submit
from ase.build import bulk

#: Cheap but real: 2-atom cells, low cutoffs, coarse k-points; a 2-layer x 8-feature model, 3 epochs.
CHEAP_PW = {'pw': {'kpoints_distance': 0.6, 'pw': {'parameters': {'SYSTEM': {'ecutwfc': 16.0, 'ecutrho': 64.0}}}}}
TINY_MODEL = {
    'cutoff_radius': 4.0,
    'num_layers': 2,
    'num_features': 8,
    'radial_mlp_width': 8,
    'l_max': 1,
    'max_epochs': 3,
    'batch_size': 5,
    'device': 'cpu',
}
TIMEOUT_S = 900


def main(profile: str, computer: str) -> None:
    load_profile(profile)
    from aiida_mlipgen.data.dataset import DatasetData
    from aiida_mlipgen.science.teacher import sw_silicon_frames
    from aiida_mlipgen.workflows.labelling import LabellingWorkChain
    from aiida_mlipgen.workflows.nequip_train_base import NequipTrainBaseWorkChain

    structures = {}
    for seed in (1, 2):
        atoms = bulk('Si', 'diamond', a=5.43)
        atoms.rattle(0.05, seed=seed)
        structures[f'si2_{seed}'] = orm.StructureData(ase=atoms)
    labelling = submit(
        LabellingWorkChain.get_builder_from_protocol(
            orm.load_code(f'pw@{computer}'), structures, protocol='fast', overrides=CHEAP_PW
        )
    )
    training = submit(
        NequipTrainBaseWorkChain.get_builder_from_protocol(
            orm.load_code(f'nequip-train@{computer}'),
            DatasetData(sw_silicon_frames(10, seed=0)).store(),
            DatasetData(sw_silicon_frames(4, seed=1)).store(),
            protocol='fast',
            overrides={'nequip': {'hyperparameters': TINY_MODEL}},
        )
    )
    deadline = time.monotonic() + TIMEOUT_S
    while not (labelling.is_terminated and training.is_terminated) and time.monotonic() < deadline:
        time.sleep(1)

    def summary(node: orm.ProcessNode) -> dict:
        return {
            'pk': node.pk,
            'state': node.process_state.value if node.process_state else None,
            'exit_status': node.exit_status,
            'jobs': [
                {'label': job.process_label, 'ok': job.is_finished_ok, 'job_id': job.get_job_id()}
                for job in node.called_descendants
                if isinstance(job, orm.CalcJobNode)
            ],
        }

    result = {'labelling': summary(labelling), 'training': summary(training)}
    if labelling.is_finished_ok:
        result['labelling']['num_frames'] = labelling.outputs.dataset.num_frames
    if training.is_finished_ok:
        result['training']['model_species'] = training.outputs.model.species
    print(json.dumps(result))


if __name__ == '__main__':
    main(*sys.argv[1:3])
