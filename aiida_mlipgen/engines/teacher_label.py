"""``mlipgen-teacher-label``: label many frames with a cheap reference ("teacher") in one job.

The teacher is any ASE calculator named by an import path plus keyword arguments, e.g.
``aiida_mlipgen.science.teacher:stillinger_weber_silicon``, ``ase.calculators.emt:EMT`` or a
foundation-model calculator the user has installed (its weights must already be on the machine:
nothing is downloaded here). A label costs milliseconds, so one job labels a whole batch.

Reads one JSON input ``{"calculator": "module:Name", "parameters": {...}, "stress": true}`` and an
extxyz file of frames, and writes

- ``labelled.extxyz``: the frames that the teacher labelled, with energy (eV), forces (eV/A) and
  stress (eV/A^3, ASE's sign) as labels and every ``info`` key of the input frame kept;
- ``failures.json``: ``{frame index: reason}`` for frames the teacher could not label (an exception
  or non-finite results), so one bad frame never costs the batch.

Exit status 2 with ``mlipgen-teacher-label: error: ...`` on stderr when the teacher cannot be built.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ase import Atoms
from ase.calculators.calculator import Calculator

from aiida_mlipgen.science.extxyz import write_extxyz
from aiida_mlipgen.science.teacher import label_frame

ERROR_PREFIX = 'mlipgen-teacher-label: error:'


def import_object(import_path: str) -> Callable:
    """The object named ``package.module:attribute`` (``attribute`` may be dotted).

    :raises ValueError: for a malformed path, a module that does not import or a missing attribute.
    """
    module_name, separator, attribute = import_path.partition(':')
    if not separator or not module_name or not attribute:
        raise ValueError(f'teacher calculator must be given as `package.module:Name`, got {import_path!r}')
    try:
        target = importlib.import_module(module_name)
    except ImportError as exception:
        raise ValueError(f'cannot import module `{module_name}` of the teacher: {exception}') from exception
    for part in attribute.split('.'):
        if not hasattr(target, part):
            raise ValueError(f'module `{module_name}` has no `{attribute}`')
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f'`{import_path}` is not a calculator class or factory')
    return target


def build_calculator(import_path: str, parameters: dict | None = None) -> Calculator:
    """Call the class or factory at ``import_path`` with ``parameters`` as keyword arguments.

    :raises ValueError: when the import fails or the call does not give an ASE calculator.
    """
    factory = import_object(import_path)
    try:
        calculator = factory(**(parameters or {}))
    except Exception as exception:  # a user's calculator may raise anything: report it in one line
        raise ValueError(f'`{import_path}` could not be built with {parameters or {}}: {exception}') from exception
    if not hasattr(calculator, 'get_potential_energy') and not hasattr(calculator, 'calculate'):
        raise ValueError(f'`{import_path}` gave a {type(calculator).__name__}, not an ASE calculator')
    return calculator


def label_batch(frames: Sequence[Atoms], calculator: Calculator, stress: bool) -> tuple[list[Atoms], dict[int, str]]:
    """Label every frame; a frame that fails is recorded with its reason, the others go on.

    :return: the labelled frames, each with ``info['batch_index']`` (its index in ``frames``), and
        ``{index: reason}`` for the frames that failed.
    """
    labelled, failures = [], {}
    for index, atoms in enumerate(frames):
        try:
            copy = label_frame(atoms, calculator, stress)
        except Exception as exception:  # the calculator's own errors are per frame, not per batch
            failures[index] = f'{type(exception).__name__}: {exception}'
            continue
        copy.info['batch_index'] = index
        labelled.append(copy)
    return labelled, failures


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface of ``mlipgen-teacher-label``."""
    parser = argparse.ArgumentParser(prog='mlipgen-teacher-label', description=__doc__.splitlines()[0])
    parser.add_argument('input', type=Path, help='JSON: calculator (module:Name), parameters, stress.')
    parser.add_argument('--frames', type=Path, required=True, help='extxyz file of the frames to label.')
    parser.add_argument('--output', type=Path, default=Path('labelled.extxyz'), help='labelled frames (extxyz).')
    parser.add_argument('--failures', type=Path, default=Path('failures.json'), help='frames not labelled (JSON).')
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    import ase.io

    args = build_parser().parse_args(argv)
    try:
        settings = json.loads(args.input.read_text(encoding='utf-8'))
        calculator = build_calculator(settings['calculator'], settings.get('parameters'))
        frames = ase.io.read(args.frames, index=':', format='extxyz') if args.frames.stat().st_size else []
    except (OSError, ValueError, KeyError) as exception:
        print(f'{ERROR_PREFIX} {exception}', file=sys.stderr)
        return 2
    for atoms in frames:
        atoms.calc = None  # labels the frames may carry are replaced, never passed through
    labelled, failures = label_batch(frames, calculator, bool(settings.get('stress', True)))
    write_extxyz(args.output, labelled)
    args.failures.write_text(json.dumps({str(index): reason for index, reason in failures.items()}, indent=2))
    print(f'labelled {len(labelled)} of {len(frames)} frames with {settings["calculator"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
