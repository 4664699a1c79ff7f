"""What every labeller shares: the frame ports, the quality-gate ports, screening and the outputs.

``LabellingWorkChain`` (Quantum ESPRESSO) and ``TeacherLabellingWorkChain`` (a teacher calculator)
take and give the same things, so the loop can use either and nothing else changes.
"""

from __future__ import annotations

from aiida import orm
from ase import Atoms

from aiida_mlipgen.data.dataset import DatasetData
from aiida_mlipgen.science.exit_codes import declare
from aiida_mlipgen.science.quality import close_contact_failures

#: Ports of a labeller that the active-learning loop fills in itself.
FRAME_PORTS = ('structures', 'dataset', 'reference_dataset')
#: Info keys the labellers write into every labelled frame (beside the labels energy, forces and stress,
#: which ``DatasetData`` keeps out of ``info`` altogether): the frame's name and the job that labelled it.
LABEL_INFO_KEYS = ('frame_key', 'pw_calculation_uuid', 'teacher_calculation_uuid', 'batch_index')


def validate_positive(value, _):
    """Thresholds and counts must be positive."""
    if value.value <= 0:
        return f'must be positive, got {value.value}.'
    return None


def define_labeller_ports(spec, max_concurrent: int, max_concurrent_help: str) -> None:
    """Frames (``structures`` or ``dataset``), ``reference_dataset``, concurrency and the quality gates."""
    spec.input_namespace(
        'structures',
        valid_type=orm.StructureData,
        dynamic=True,
        required=False,
        help='The frames to label, keyed by a name that is kept as `frame_key` in the dataset.',
    )
    spec.input(
        'dataset',
        valid_type=DatasetData,
        required=False,
        help='The frames to label as a dataset (labels it may hold are replaced); keys `frame_00000`, ...',
    )
    spec.input(
        'reference_dataset',
        valid_type=DatasetData,
        required=False,
        help='A labelled dataset the new labels will join: its labelling settings must equal these.',
    )
    spec.input(
        'max_concurrent',
        valid_type=orm.Int,
        default=lambda: orm.Int(max_concurrent),
        validator=validate_positive,
        help=max_concurrent_help,
    )
    spec.input(
        'max_force',
        valid_type=orm.Float,
        default=lambda: orm.Float(10.0),
        validator=validate_positive,
        help='Quality gate: a frame where any atom feels a force larger than this (eV/A) is quarantined.',
    )
    spec.input(
        'max_net_force_per_atom',
        valid_type=orm.Float,
        default=lambda: orm.Float(0.001),
        validator=validate_positive,
        help='Quality gate: a frame whose net force (norm of the force sum) per atom exceeds this (eV/A) fails.',
    )
    spec.input(
        'min_distance_ratio',
        valid_type=orm.Float,
        default=lambda: orm.Float(0.5),
        validator=validate_positive,
        help='Pre-submission gate: atoms closer than this x (sum of covalent radii) are not submitted.',
    )
    spec.output(
        'dataset',
        valid_type=DatasetData,
        required=False,
        help='The frames that were labelled and passed the gates (energy eV, forces eV/A, stress eV/A^3).',
    )
    spec.output(
        'failures',
        valid_type=orm.Dict,
        help='Frames left out: frame key -> stage (screening, dft/teacher, quality), reason, exit status, process.',
    )
    declare(
        spec, 'ERROR_NO_FRAME_PASSED_SCREENING', 'No frame passed the pre-submission checks, nothing was run: {reasons}'
    )
    declare(
        spec,
        'ERROR_ALL_FRAMES_FAILED',
        'All {num_failed} frames failed (labeller errors or quality gates); see the `failures` output.',
    )


def check_info_keys(dataset: DatasetData) -> str | None:
    """Refuse frames whose info holds a key the labellers write (:data:`LABEL_INFO_KEYS`): it would be overwritten.

    A dataset labelled before (it records its labelling settings) is relabelled: those keys are the provenance
    of the labels being replaced, and are replaced with them.
    """
    if dataset.labelling_settings is not None:
        return None
    for index, atoms in enumerate(dataset.get_atoms()):
        clash = sorted(set(atoms.info) & set(LABEL_INFO_KEYS))
        if clash:
            return (
                f'frame {index} of `dataset` has info key(s) {clash}, which the labelling writes itself: rename '
                f'them (e.g. `user_{clash[0]}`) so that they are kept.'
            )
    return None


def check_frame_source(inputs) -> str | None:
    """Exactly one of ``structures`` and ``dataset``, holding at least one frame, with no info key of the labels."""
    if ('dataset' in inputs) == bool(inputs.get('structures')):
        return 'give the frames to label either as `structures` or as a `dataset`, and not both.'
    if 'dataset' in inputs:
        if inputs['dataset'].num_frames == 0:
            return 'there are no frames to label.'
        return check_info_keys(inputs['dataset'])
    return None


def screening_failures(frames: dict[str, Atoms], min_distance_ratio: float) -> dict[str, dict]:
    """Failure records of the frames whose atoms are closer than the minimum distance: DFT on them is wasted."""
    failures = {}
    for key, atoms in sorted(frames.items()):
        reasons = close_contact_failures(atoms, min_distance_ratio=min_distance_ratio)
        if reasons:
            failures[key] = {
                'stage': 'screening',
                'reason': f'{len(reasons)} atom pair(s) too close ({min_distance_ratio} x sum of covalent radii), '
                f'e.g. {reasons[0]}',
                'exit_status': None,
                'process_uuid': None,
            }
    return failures


def finish_labelling(process, results: dict, num_frames: int):
    """Attach ``failures`` and ``dataset``, and return the exit code when no frame was labelled."""
    process.out('failures', results['failures'])
    failures = results['failures'].get_dict()
    if 'dataset' not in results:
        if all(record['stage'] == 'screening' for record in failures.values()):
            reasons = '; '.join(f'{key}: {record["reason"]}' for key, record in sorted(failures.items()))
            return process.exit_codes.ERROR_NO_FRAME_PASSED_SCREENING.format(reasons=reasons)
        return process.exit_codes.ERROR_ALL_FRAMES_FAILED.format(num_failed=len(failures))
    process.out('dataset', results['dataset'])
    reasons = ', '.join(f'{key} ({record["stage"]}: {record["reason"]})' for key, record in sorted(failures.items()))
    process.report(
        f'labelled {results["dataset"].num_frames} of {num_frames} frames; {len(failures)} failed '
        f'or quarantined: {reasons or "none"}'
    )
    return None
