"""An aiida-pseudo family with recommended cutoffs, built from Debian's quantum-espresso-data UPF files."""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

import yaml
from aiida import orm

#: Label of the family that ``mlipgen setup`` installs.
DEFAULT_FAMILY_LABEL = 'mlipgen/debian-pbe'
#: Factors applied to the `normal` cutoffs of ``debian_pseudos.yaml``.
STRINGENCY_FACTORS = {'low': 0.7, 'normal': 1.0, 'high': 1.3}
CATALOGUE = Path(__file__).with_name('debian_pseudos.yaml')


def load_catalogue(path: Path = CATALOGUE) -> dict:
    """Return the element -> {file, cutoff_wfc, cutoff_rho} table and its source directory."""
    return yaml.safe_load(path.read_text(encoding='utf-8'))


def cutoffs_for_stringencies(pseudos: dict) -> dict[str, dict[str, dict[str, float]]]:
    """Return {stringency: {element: {cutoff_wfc, cutoff_rho}}} in Ry, rounded up to whole Ry."""
    return {
        stringency: {
            element: {
                'cutoff_wfc': float(math.ceil(entry['cutoff_wfc'] * factor)),
                'cutoff_rho': float(math.ceil(entry['cutoff_rho'] * factor)),
            }
            for element, entry in pseudos.items()
        }
        for stringency, factor in STRINGENCY_FACTORS.items()
    }


def get_or_create_pseudo_family(
    label: str = DEFAULT_FAMILY_LABEL, pseudo_dir: str | Path | None = None, catalogue: Path = CATALOGUE
):
    """Return the family ``label``, creating it from the catalogue's UPF files if it does not exist.

    :param pseudo_dir: folder with the UPF files (default: the catalogue's, Debian's install path).
    :raises FileNotFoundError: if a catalogued file is missing (install ``quantum-espresso-data``).
    """
    from aiida_pseudo.data.pseudo import UpfData
    from aiida_pseudo.groups.family import CutoffsPseudoPotentialFamily

    existing = orm.QueryBuilder().append(CutoffsPseudoPotentialFamily, filters={'label': label}).first(flat=True)
    if existing is not None:
        return existing

    table = load_catalogue(catalogue)
    source = Path(pseudo_dir or table['directory'])
    missing = [entry['file'] for entry in table['pseudos'].values() if not (source / entry['file']).is_file()]
    if missing:
        raise FileNotFoundError(
            f'pseudopotential files missing from {source}: {", ".join(missing)}. '
            'On Debian/Ubuntu: apt-get install quantum-espresso-data.'
        )
    with tempfile.TemporaryDirectory() as staging:
        for entry in table['pseudos'].values():
            shutil.copy(source / entry['file'], Path(staging) / entry['file'])
        family = CutoffsPseudoPotentialFamily.create_from_folder(
            Path(staging),
            label,
            description=f'{table["functional"]} pseudopotentials of Debian quantum-espresso-data (aiida-mlipgen)',
            pseudo_type=UpfData,
        )
    for stringency, cutoffs in cutoffs_for_stringencies(table['pseudos']).items():
        family.set_cutoffs(cutoffs, stringency, unit='Ry')
    family.set_default_stringency('normal')
    return family
