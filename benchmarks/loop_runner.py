"""Run ``ActiveLearningWorkChain`` from a script: a throw-away AiiDA profile, local codes, labels per stage.

:func:`temporary_profile` makes an SQLite profile without a broker in a folder of its own (nothing is
added to the user's AiiDA configuration); aiida-core's ``run`` needs no daemon. :func:`local_codes`
installs the console scripts of this Python environment as codes on a ``localhost`` computer of that
profile, and :func:`label_batches` reads back, in order, the frames each labelling stage of a finished
loop labelled.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ase import Atoms

#: Labels of the ``mlipgen setup`` codes the loop needs, by the role the loop's builder gives them.
LOOP_CODES = {
    'teacher': 'mlipgen-teacher-label',
    'train': 'nequip-train',
    'explore': 'mlipgen-explore',
    'evaluate': 'mlipgen-evaluate',
}
#: The teacher of every benchmark loop: Stillinger-Weber silicon (PRB 31, 5262) through matscipy.
TEACHER = {'calculator': 'aiida_mlipgen.science.teacher:stillinger_weber_silicon', 'parameters': {}}


@contextlib.contextmanager
def temporary_profile(folder: Path, name: str = 'benchmark') -> Iterator:
    """Load a new SQLite profile (no broker) whose configuration and storage live in ``folder``."""
    from aiida.manage.configuration import create_profile, get_config, profile_context, reset_config, settings

    from aiida_mlipgen.setup.profile import RUNNER_POLL_INTERVAL_S

    config_dir = folder / settings.DEFAULT_CONFIG_DIR_NAME
    previous = os.environ.get(settings.DEFAULT_AIIDA_PATH_VARIABLE)
    reset_config()
    os.environ[settings.DEFAULT_AIIDA_PATH_VARIABLE] = str(config_dir)
    settings.AiiDAConfigDir.set(config_dir)
    try:
        config = get_config(create=True)
        profile = create_profile(
            config,
            storage_backend='core.sqlite_dos',
            storage_config={'filepath': str(folder / 'storage')},
            name=name,
            email='benchmark@localhost',
        )
        profile.set_option('warnings.development_version', False)
        # Without a broker the engine polls for finished children: AiiDA's default of 60 s would idle the loop.
        config.set_option('runner.poll.interval', RUNNER_POLL_INTERVAL_S, scope=profile.name)
        config.set_default_profile(profile.name)
        config.store()
        with profile_context(profile, allow_switch=True):
            yield profile
    finally:
        reset_config()
        if previous is None:
            os.environ.pop(settings.DEFAULT_AIIDA_PATH_VARIABLE, None)
        else:
            os.environ[settings.DEFAULT_AIIDA_PATH_VARIABLE] = previous


def local_codes(workdir: Path) -> dict:
    """The loop's codes (:data:`LOOP_CODES`) on a localhost computer running jobs in ``workdir``."""
    from aiida_mlipgen.setup.codes import LOCAL_CODES, get_or_create_code
    from aiida_mlipgen.setup.computer import get_or_create_localhost

    computer, _ = get_or_create_localhost(workdir=workdir)
    specs = {spec.label: spec for spec in LOCAL_CODES}
    codes = {}
    for role, label in LOOP_CODES.items():
        spec = specs[label]
        codes[role], _ = get_or_create_code(spec.label, spec.executable, spec.plugin, computer, spec.hint)
    return codes


def is_training_label(link_label: str) -> bool:
    """Whether a labelling stage of the loop fed the training set (not a held-out exploration test set)."""
    return link_label == 'label_initial_set' or (link_label.startswith('label_iteration_') and 'test' not in link_label)


def label_batches(node) -> list[tuple[str, list[Atoms]]]:
    """``(link label, labelled frames)`` of every labelling stage of a loop that fed its training data, in order."""
    from aiida.common.links import LinkType

    stages = [
        (triple.link_label, triple.node)
        for triple in node.base.links.get_outgoing(link_type=LinkType.CALL_WORK).all()
        if is_training_label(triple.link_label)
    ]
    stages.sort(key=lambda stage: stage[1].ctime)
    return [(label, stage.outputs.dataset.get_atoms() if 'dataset' in stage.outputs else []) for label, stage in stages]


def explored_steps(node) -> int:
    """MD steps the loop's exploration stages ran in all (every condition of every iteration)."""
    from aiida.common.links import LinkType

    total = 0
    for triple in node.base.links.get_outgoing(link_type=LinkType.CALL_WORK).all():
        if triple.link_label.startswith('explore_iteration_') and 'statistics' in triple.node.outputs:
            total += sum(entry['steps_done'] for entry in triple.node.outputs.statistics['conditions'])
    return total
