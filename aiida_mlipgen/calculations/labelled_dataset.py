"""Turn finished Quantum ESPRESSO runs into a labelled ``DatasetData``, applying the quality gates."""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import calcfunction
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.units import GPa, Ry

from aiida_mlipgen.calculations.dataset_conversion import frame_key
from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.science.quality import force_gate_failures, scf_convergence_failures

#: Prefix of the calcfunction's per-frame inputs: ``trajectory_<frame key>``.
TRAJECTORY_PREFIX = 'trajectory_'
#: pw.x's default ``ELECTRONS.conv_thr``, Ry.
QE_DEFAULT_CONV_THR_RY = 1.0e-6


def scf_failures(trajectory: orm.TrajectoryData) -> list[str]:
    """Reasons why the run behind ``trajectory`` did not converge its SCF, read from its printed accuracies."""
    calculation = trajectory.creator
    conv_thr = calculation.inputs.parameters.get_dict().get('ELECTRONS', {}).get('conv_thr', QE_DEFAULT_CONV_THR_RY)
    accuracy = trajectory.get_array('scf_accuracy') if 'scf_accuracy' in trajectory.get_arraynames() else []
    return scf_convergence_failures(list(accuracy), conv_thr * Ry)


def atoms_from_pw_trajectory(trajectory: orm.TrajectoryData) -> Atoms:
    """Last step of a ``PwCalculation`` output trajectory as Atoms with energy, forces and stress.

    aiida-quantumespresso gives energy in eV, forces in eV/A and stress in GPa with QE's sign
    (positive = compressive); ASE's convention is eV/A^3 with positive = tensile, hence the sign flip.
    """
    for array in ('energy', 'forces', 'stress'):
        if array not in trajectory.get_arraynames():
            raise ValueError(f'trajectory {trajectory.pk} has no `{array}`: forces and stress must be computed')
    atoms = trajectory.get_step_structure(-1).get_ase()
    stress_ase = -np.asarray(trajectory.get_array('stress')[-1], dtype=float) * GPa
    atoms.calc = SinglePointCalculator(
        atoms,
        energy=float(trajectory.get_array('energy')[-1]),
        forces=np.asarray(trajectory.get_array('forces')[-1], dtype=float),
        stress=stress_ase,
    )
    return atoms


@calcfunction
def build_labelled_dataset(
    settings: orm.Dict,
    max_force: orm.Float,
    max_net_force_per_atom: orm.Float,
    failures: orm.Dict,
    source: DatasetData | None = None,
    **trajectories,
) -> dict:
    """Collect labelled frames into a dataset; frames failing a quality gate go to ``failures``.

    :param settings: the DFT settings fingerprint, recorded on the dataset (``labelling_settings``).
    :param max_force: largest |F| allowed on any atom, eV/A.
    :param max_net_force_per_atom: largest |sum_i F_i| / N allowed, eV/A.
    :param failures: frames that already failed (pre-submission gates, DFT failures): passed through.
    :param source: the dataset the frames came from (keys ``frame_<index>``): each frame keeps its info
        (condition, config_type, ...) in the labelled dataset.
    :param trajectories: ``trajectory_<frame key>``: the output trajectory of each successful run.
    :return: ``failures`` (Dict: frame key -> stage, reason, ...) and, when any frame passed,
        ``dataset`` (DatasetData; each frame's info holds ``frame_key`` and ``pw_calculation_uuid``).
    """
    records = dict(failures.get_dict())
    source_info = {}
    if source is not None:
        source_info = {frame_key(index): dict(atoms.info) for index, atoms in enumerate(source.get_atoms())}
    frames = []
    for label in sorted(trajectories):
        key = label.removeprefix(TRAJECTORY_PREFIX)
        trajectory = trajectories[label]
        atoms = atoms_from_pw_trajectory(trajectory)
        reasons = scf_failures(trajectory) or force_gate_failures(
            atoms.calc.results['forces'],
            max_force=max_force.value,
            max_net_force_per_atom=max_net_force_per_atom.value,
        )
        calculation = trajectory.creator
        if reasons:
            records[key] = {
                'stage': 'quality',
                'reason': '; '.join(reasons),
                'exit_status': None,
                'process_uuid': calculation.uuid,
            }
            continue
        atoms.info.update(source_info.get(key, {}))
        atoms.info['frame_key'] = key
        atoms.info['pw_calculation_uuid'] = calculation.uuid
        frames.append(atoms)

    outputs = {'failures': orm.Dict(records)}
    if frames:
        dataset = DatasetData(frames)
        dataset.set_labelling_settings(settings.get_dict())
        outputs['dataset'] = dataset
    return outputs


@calcfunction
def build_teacher_dataset(
    settings: orm.Dict, max_force: orm.Float, max_net_force_per_atom: orm.Float, failures: orm.Dict, **labelled
) -> dict:
    """Collect the teacher's labelled batches into one dataset; the same quality gates as for DFT labels.

    :param settings: the teacher's labelling-settings fingerprint, recorded on the dataset.
    :param failures: frames that already failed (screening, the teacher's own errors): passed through.
    :param labelled: ``labelled_<batch>``: the ``labelled`` output of each ``TeacherLabelCalculation``.
    :return: ``failures`` and, when any frame passed, ``dataset`` (each frame keeps its info, with
        ``frame_key`` and ``teacher_calculation_uuid``).
    """
    records = dict(failures.get_dict())
    frames = []
    for label in sorted(labelled):
        calculation = labelled[label].creator
        for atoms in labelled[label].get_atoms():
            key = atoms.info.pop('frame_key')
            atoms.info.pop('batch_index', None)
            reasons = force_gate_failures(
                atoms.calc.results['forces'],
                max_force=max_force.value,
                max_net_force_per_atom=max_net_force_per_atom.value,
            )
            if reasons:
                records[key] = {
                    'stage': 'quality',
                    'reason': '; '.join(reasons),
                    'exit_status': None,
                    'process_uuid': calculation.uuid,
                }
                continue
            atoms.info['frame_key'] = key
            atoms.info['teacher_calculation_uuid'] = calculation.uuid
            frames.append(atoms)
    outputs = {'failures': orm.Dict(records)}
    if frames:
        frames.sort(key=lambda atoms: atoms.info['frame_key'])
        dataset = DatasetData(frames)
        dataset.set_labelling_settings(settings.get_dict())
        outputs['dataset'] = dataset
    return outputs
