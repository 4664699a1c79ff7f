"""Which codes and settings ``mlipgen run`` uses: defaults, a YAML file, then command-line options.

The YAML file (``--config``) may hold::

    computer: mycluster            # codes default to <label>@mycluster
    codes:                         # any of them, by stage, as full code labels
      pw: pw-7.2@mycluster
      train: nequip-train@gpu-cluster
    protocol: balanced
    max_iterations: 8
    max_dft_calls: 400
    overrides: {...}               # protocol overrides of ActiveLearningWorkChain (e.g. job options)
"""

from __future__ import annotations

from pathlib import Path

import yaml

#: Code label of each stage as ``mlipgen setup`` (and the cluster templates) name them.
STAGE_CODE_LABELS = {
    'pw': 'pw',
    'train': 'nequip-train',
    'explore': 'mlipgen-explore',
    'evaluate': 'mlipgen-evaluate',
}
KNOWN_STAGES = tuple(STAGE_CODE_LABELS)
CONFIG_KEYS = ('computer', 'codes', 'protocol', 'max_iterations', 'max_dft_calls', 'overrides')
DEFAULT_COMPUTER = 'localhost'


def read_config(path: str | Path | None) -> dict:
    """The settings of a ``--config`` YAML file (empty without one).

    :raises ValueError: for a file that is not a mapping or has keys ``mlipgen run`` does not know.
    """
    if path is None:
        return {}
    try:
        content = yaml.safe_load(Path(path).read_text(encoding='utf-8')) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exception:
        detail = ' '.join(str(exception).split())
        raise ValueError(f'{path}: not a readable YAML file ({type(exception).__name__}: {detail})') from None
    if not isinstance(content, dict):
        raise ValueError(f'{path}: expected a mapping with keys {", ".join(CONFIG_KEYS)}')
    unknown = sorted(set(content) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f'{path}: unknown keys {", ".join(unknown)} (known: {", ".join(CONFIG_KEYS)})')
    return content


def parse_code_options(values: tuple[str, ...]) -> dict[str, str]:
    """``('pw=pw@cluster', ...)`` -> ``{'pw': 'pw@cluster'}``.

    :raises ValueError: for a value without ``=``, or a stage that is not one of :data:`KNOWN_STAGES`.
    """
    codes = {}
    for value in values:
        stage, separator, label = value.partition('=')
        if not separator or not stage or not label:
            raise ValueError(f'`{value}`: give STAGE=CODE, e.g. pw=pw@mycluster')
        codes[stage.strip()] = label.strip()
    return check_stages(codes)


def check_stages(codes: dict[str, str]) -> dict[str, str]:
    """Return ``codes`` if every key is a known stage.

    :raises ValueError: otherwise.
    """
    unknown = sorted(set(codes) - set(KNOWN_STAGES))
    if unknown:
        raise ValueError(f'unknown stages {", ".join(unknown)}: choose from {", ".join(KNOWN_STAGES)}')
    return codes


def resolve_code_labels(
    config: dict, computer: str | None = None, code_options: dict[str, str] | None = None
) -> dict[str, str]:
    """Full code label per stage: ``<default label>@<computer>``, then the file's ``codes``, then ``--code``.

    The computer is ``--computer``, else the file's ``computer``, else ``localhost``.
    """
    computer = computer or config.get('computer') or DEFAULT_COMPUTER
    labels = {stage: f'{label}@{computer}' for stage, label in STAGE_CODE_LABELS.items()}
    labels.update(check_stages({str(key): str(value) for key, value in (config.get('codes') or {}).items()}))
    labels.update(code_options or {})
    return labels
