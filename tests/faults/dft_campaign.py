"""DFT faults through ``faulty_pw.py``: the frames, their faults, the run and what became of each frame.

Shared by ``test_dft_faults.py`` and ``benchmarks/reliability.py``. Each frame is a 2-atom Si cell with
its own lattice constant (the wrapper knows a frame by its cell volume) and one planned fault.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from aiida import orm
from ase.build import bulk

from tests.faults.faulty_pw import frame_key

FAULTY_PW = Path(__file__).with_name('faulty_pw.py')
#: Cheap but real: 2-atom cells, low cutoffs, coarse k-points (as the labelling tests).
CHEAP = {'pw': {'kpoints_distance': 0.6, 'pw': {'parameters': {'SYSTEM': {'ecutwfc': 16.0, 'ecutrho': 64.0}}}}}
#: Attempts a PwBaseWorkChain makes at most (aiida-quantumespresso's default is 5): 3 keep the runs short.
MAX_ATTEMPTS = 3
#: frame name -> (lattice constant in A, fault, attempts that fail: None for all).
PLAN = {
    'clean': (5.38, None, 0),
    'scf_once': (5.40, 'scf', 1),
    'walltime_once': (5.42, 'walltime', 1),
    'crash_once': (5.44, 'crash', 1),
    'scf_always': (5.46, 'scf', None),
    'crash_always': (5.48, 'crash', None),
    'silent_scf': (5.50, 'silent_scf', None),
}
#: The frames that must come back labelled; the others must be quarantined.
RECOVERED = {'clean', 'scf_once', 'walltime_once', 'crash_once'}


def silicon(lattice_constant: float, seed: int) -> orm.StructureData:
    """Diamond Si (2 atoms) at ``lattice_constant`` (A), rattled by 0.03 A."""
    atoms = bulk('Si', 'diamond', a=lattice_constant)
    atoms.rattle(0.03, seed=seed)
    return orm.StructureData(ase=atoms)


def plan_structures(plan: dict = PLAN) -> dict[str, orm.StructureData]:
    """The frames of ``plan``, by name."""
    return {name: silicon(a, seed) for seed, (name, (a, _, _)) in enumerate(plan.items())}


def write_plan(path: Path, structures: dict[str, orm.StructureData], pw_executable: str, plan: dict = PLAN) -> Path:
    """Write the wrapper's plan to ``path``: each frame's fault, keyed by the frame's cell volume."""
    faults = {}
    for name, (_, fault, times) in plan.items():
        if fault is not None:
            faults[frame_key(structures[name].cell)] = {'fault': fault, 'times': times}
    state = path.parent / f'{path.stem}_state'
    path.write_text(json.dumps({'pw': pw_executable, 'state_dir': str(state), 'faults': faults}))
    return path


def injections(plan_path: Path) -> list[dict]:
    """What the wrapper did, one entry per pw.x run: frame key, attempt, injected fault (or None)."""
    log = Path(json.loads(plan_path.read_text())['state_dir']) / 'injections.jsonl'
    return [json.loads(line) for line in log.read_text().splitlines()]


def faulty_pw_code(computer: orm.Computer, plan_path: Path, prepend_text: str) -> orm.InstalledCode:
    """``faulty_pw.py`` as a ``quantumespresso.pw`` code on ``computer``, reading the plan at ``plan_path``."""
    return orm.InstalledCode(
        label=f'faulty-pw-{plan_path.parent.name}',
        computer=computer,
        filepath_executable=str(FAULTY_PW),
        default_calc_job_plugin='quantumespresso.pw',
        prepend_text=f'{prepend_text}\nexport MLIPGEN_FAULT_PLAN={plan_path}',
    ).store()


def labelling_builder(code: orm.AbstractCode, structures: dict[str, orm.StructureData]):
    """LabellingWorkChain on ``structures`` with ``code``: fast protocol, cheap settings, all frames at once."""
    from aiida_mlipgen.workflows.labelling import LabellingWorkChain

    builder = LabellingWorkChain.get_builder_from_protocol(code, structures, protocol='fast', overrides=CHEAP)
    builder.pw.max_iterations = orm.Int(MAX_ATTEMPTS)
    builder.max_concurrent = orm.Int(len(structures))
    return builder


def scf_converged(calculation: orm.CalcJobNode) -> bool:
    """Whether pw.x's last SCF reached its own threshold, read from the retrieved output, not from the parser."""
    threshold = None
    accuracy = []
    for line in calculation.outputs.retrieved.get_object_content('aiida.out').splitlines():
        if 'scf convergence threshold' in line:
            threshold = float(line.split('=')[1])
        elif 'estimated scf accuracy' in line:
            accuracy.append(float(line.split('<')[1].split()[0]))
    return threshold is not None and bool(accuracy) and accuracy[-1] < threshold


def attempts(node: orm.WorkflowNode) -> dict[str, list[orm.CalcJobNode]]:
    """The PwCalculations of each frame of a finished LabellingWorkChain, oldest first."""
    runs = {}
    for link in node.base.links.get_outgoing(link_label_filter='label_%').all():
        children = [child for child in link.node.called if isinstance(child, orm.CalcJobNode)]
        runs[link.link_label.removeprefix('label_')] = sorted(children, key=lambda child: child.ctime)
    return runs


def outcome(node: orm.WorkflowNode, structures: dict, plan_path: Path, plan: dict = PLAN) -> dict:
    """What became of every frame and fault: the campaign's figures for one labelling run."""
    dataset = node.outputs.dataset if 'dataset' in node.outputs else None
    failures = node.outputs.failures.get_dict() if 'failures' in node.outputs else {}
    labelled = Counter(atoms.info['frame_key'] for atoms in dataset.get_atoms()) if dataset is not None else Counter()
    unconverged = [
        atoms.info['frame_key']
        for atoms in (dataset.get_atoms() if dataset is not None else [])
        if not scf_converged(orm.load_node(atoms.info['pw_calculation_uuid']))
    ]
    injected = {(entry['frame'], entry['fault']) for entry in injections(plan_path) if entry['fault']}
    faults = {name: fault for name, (_, fault, _) in plan.items() if fault is not None}
    keys = {name: frame_key(structures[name].cell) for name in plan}
    survived = [
        name
        for name, fault in faults.items()
        if (keys[name], fault) in injected
        and name not in unconverged
        and (labelled[name] == 1) != (name in failures)
        and (name in labelled or failures[name]['reason'])
    ]
    return {
        'frames': len(plan),
        'labelled': sorted(labelled),
        'quarantined': {name: f'{record["stage"]}: {record["reason"]}' for name, record in sorted(failures.items())},
        'frames_lost': sorted(set(plan) - set(labelled) - set(failures)),
        'labelled_twice': sorted(name for name, count in labelled.items() if count > 1),
        'unconverged_in_dataset': unconverged,
        'faults_injected': sorted(
            f'{name}: {fault}' for name, fault in faults.items() if (keys[name], fault) in injected
        ),
        'faults_survived': sorted(survived),
        'pw_runs': {name: [calculation.exit_status for calculation in runs] for name, runs in attempts(node).items()},
    }
