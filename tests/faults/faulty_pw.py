#!/usr/bin/env python3
"""A fault-injecting wrapper around pw.x: the real pw.x runs, but chosen frames fail the way production runs fail.

Installed as an AiiDA code in place of pw.x, it takes pw.x's arguments (``-in aiida.in``). The plan, a JSON
file named by ``MLIPGEN_FAULT_PLAN``, says which frames fail and how::

    {"pw": "/usr/bin/pw.x", "state_dir": "/tmp/faults",
     "faults": {"<frame key>": {"fault": "scf", "times": 1}, ...}}

A frame's key is its cell volume (:func:`frame_key`), read from the input file: the wrapper knows
nothing of AiiDA. ``times`` is how many attempts of that frame fail (``null``: every attempt); the attempts
are counted in ``state_dir``, where every call also appends one line to ``injections.jsonl``.

Faults, each produced by the real pw.x, never by a made-up output:

- ``scf``: ``electron_maxstep = 1``: pw.x stops with "convergence NOT achieved";
- ``silent_scf``: ``electron_maxstep = 1`` and ``scf_must_converge = .false.``: pw.x goes on with an
  unconverged density and prints energy, forces, stress and JOB DONE, as if all were well;
- ``walltime``: ``max_seconds`` tiny: pw.x stops cleanly with "Maximum CPU time exceeded" and writes
  its restart files (QE's own walltime stop);
- ``crash``: pw.x is killed after its first SCF iteration, the output is cut there and the wrapper exits
  with 137, as after an out-of-memory kill or a node failure.

Standard library only: it runs under any python3 on the compute node.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

FAULTS = ('scf', 'silent_scf', 'walltime', 'crash')
#: The exit status of a process killed by SIGKILL, as a shell reports it.
KILLED_EXIT_STATUS = 137


def frame_key(cell: list[list[float]]) -> str:
    """A frame's key: its cell volume in A^3 to two decimals."""
    (a1, a2, a3), (b1, b2, b3), (c1, c2, c3) = cell
    volume = a1 * (b2 * c3 - b3 * c2) - a2 * (b1 * c3 - b3 * c1) + a3 * (b1 * c2 - b2 * c1)
    return f'{abs(volume):.2f}'


def read_cell(text: str) -> list[list[float]]:
    """The ``CELL_PARAMETERS angstrom`` block of a pw.x input (as aiida-quantumespresso writes it)."""
    match = re.search(r'CELL_PARAMETERS\s*\{?\s*angstrom\s*\}?\s*\n((?:.*\n){3})', text, re.IGNORECASE)
    if match is None:
        raise ValueError('no CELL_PARAMETERS angstrom block in the input')
    return [[float(value) for value in line.split()[:3]] for line in match.group(1).splitlines()]


def set_in_namelist(text: str, namelist: str, assignments: dict[str, str]) -> str:
    """Put ``key = value`` lines at the top of ``&namelist`` (created if missing); pw.x keeps the last of a key."""
    lines = ''.join(f'  {key} = {value}\n' for key, value in assignments.items())
    pattern = re.compile(rf'^(\s*&{namelist}\s*\n)(.*?)(^\s*/\s*$)', re.IGNORECASE | re.MULTILINE | re.DOTALL)
    match = pattern.search(text)
    if match is None:
        head, tail = text.split('ATOMIC_SPECIES', 1)
        return f'{head}&{namelist.upper()}\n{lines}/\nATOMIC_SPECIES{tail}'
    # Appended after the namelist's own lines, so that ours win.
    return text[: match.start(3)] + lines + text[match.start(3) :]


def inject(text: str, fault: str) -> str:
    """The input file with ``fault`` injected (for ``crash``, unchanged: the run is cut instead)."""
    if fault == 'scf':
        return set_in_namelist(text, 'ELECTRONS', {'electron_maxstep': '1', 'conv_thr': '1e-14'})
    if fault == 'silent_scf':
        return set_in_namelist(
            text, 'ELECTRONS', {'electron_maxstep': '1', 'conv_thr': '1e-14', 'scf_must_converge': '.false.'}
        )
    if fault == 'walltime':
        return set_in_namelist(text, 'CONTROL', {'max_seconds': '1.0d-3'})
    if fault == 'crash':
        return text
    raise ValueError(f'unknown fault {fault!r}: one of {", ".join(FAULTS)}')


def next_attempt(state_dir: Path, key: str) -> int:
    """Count one more attempt of frame ``key`` and return its number (1 for the first)."""
    counter = state_dir / f'attempts_{key}'
    attempt = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempt))
    return attempt


def run_cut(command: list[str]) -> int:
    """Run pw.x, pass its output on until its first SCF iteration has ended, then kill it: a crash."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    for line in process.stdout:
        sys.stdout.write(line)
        if 'total energy' in line and 'estimated scf accuracy' not in line:
            break
    sys.stdout.flush()
    process.send_signal(signal.SIGKILL)
    process.wait()
    return KILLED_EXIT_STATUS


def main(arguments: list[str]) -> int:
    plan = json.loads(Path(os.environ['MLIPGEN_FAULT_PLAN']).read_text())
    state_dir = Path(plan['state_dir'])
    state_dir.mkdir(parents=True, exist_ok=True)
    input_path = Path(arguments[arguments.index('-in') + 1])
    text = input_path.read_text()
    key = frame_key(read_cell(text))
    attempt = next_attempt(state_dir, key)
    entry = plan['faults'].get(key)
    fault = None
    if entry is not None and (entry.get('times') is None or attempt <= entry['times']):
        fault = entry['fault']
        input_path.write_text(inject(text, fault))
    with (state_dir / 'injections.jsonl').open('a') as log:
        log.write(json.dumps({'frame': key, 'attempt': attempt, 'fault': fault, 'cwd': os.getcwd()}) + '\n')
    command = [plan.get('pw', 'pw.x'), *arguments]
    if fault == 'crash':
        return run_cut(command)
    return subprocess.call(command)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
