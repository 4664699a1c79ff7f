"""Point defects in a supercell: vacancies, interstitials, antisites and substitutions.

The symmetry-distinct defects come from pymatgen-analysis-defects (Shen et al., JOSS 2024): vacancies
and substitutions per set of equivalent sites (``VacancyGenerator``, ``SubstitutionGenerator``,
``AntiSiteGenerator``), interstitials at the clustered nodes of the Voronoi tessellation
(``VoronoiInterstitialGenerator``). Each defect is placed in the host supercell, unrelaxed: the
forces on its neighbours are the training signal, as in TrainsPot's vacancy and substitution sets.
Every structure records ``info['generator']`` (``'vacancy'``, ``'interstitial'``, ``'antisite'``,
``'substitution'``), ``info['defect']`` (pymatgen's name, e.g. ``v_Si``, ``Si_i``, ``Ge_Si``), its
``defect_multiplicity`` and, but for vacancies, the index of the defect atom (``defect_site_index``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ase import Atoms

from aiida_mlipgen.science.generators import make_supercell
from aiida_mlipgen.science.structure_tools import (
    check_positive_int,
    enforce_max_atoms,
    from_pymatgen,
    settings_from_dict,
    to_pymatgen,
)


@dataclass(frozen=True)
class PointDefectSettings:
    """Which point defects to make.

    vacancies: one vacancy per symmetry-distinct site.
    interstitials: species inserted at each symmetry-distinct Voronoi interstitial site, e.g. ``['Si']``.
    antisites: swap each pair of species of a multi-species host (one per distinct site).
    substitutions: host species -> dopants, e.g. ``{'Si': ['Ge']}``; host species absent from a seed are skipped.
    min_distance_A: interstitial sites closer than this to an atom are dropped (A).
    min_atoms: the host is the smallest diagonal supercell of the seed with at least this many atoms
        (None: the seed as given).
    max_atoms: refuse larger structures (each may be labelled with DFT).
    """

    vacancies: bool = True
    interstitials: Sequence[str] = ()
    antisites: bool = False
    substitutions: Mapping[str, Sequence[str]] = field(default_factory=dict)
    min_distance_A: float = 0.9  # noqa: N815 - unit in the name
    min_atoms: int | None = None
    max_atoms: int = 64

    def __post_init__(self):
        if self.min_atoms is not None:
            check_positive_int(self.min_atoms, 'point_defects.min_atoms')
        check_positive_int(self.max_atoms, 'point_defects.max_atoms')
        if not self.min_distance_A > 0:
            raise ValueError(f'point_defects.min_distance_A must be > 0 (A), got {self.min_distance_A}')
        if isinstance(self.interstitials, str) or any(not isinstance(s, str) for s in self.interstitials):
            raise ValueError(
                f'point_defects.interstitials must be a list of chemical symbols, got {self.interstitials}'
            )
        for host, dopants in dict(self.substitutions).items():
            if isinstance(dopants, str) or not dopants:
                raise ValueError(f'point_defects.substitutions[{host!r}] must be a list of symbols, got {dopants!r}')

    @classmethod
    def from_dict(cls, values: Mapping | None) -> PointDefectSettings:
        """Settings from a plain dict (unknown keys refused)."""
        return settings_from_dict(cls, values, 'point_defects')


def _host(seed: Atoms, settings: PointDefectSettings) -> Atoms:
    return make_supercell(seed, min_atoms=settings.min_atoms) if settings.min_atoms else seed


def point_defect_structures(seed: Atoms, settings: PointDefectSettings) -> list[Atoms]:
    """Unrelaxed defect supercells of ``seed``, in the order vacancies, interstitials, antisites, substitutions.

    :raises ValueError: if a structure would exceed ``settings.max_atoms``.
    """
    from pymatgen.analysis.defects.generators import (
        AntiSiteGenerator,
        SubstitutionGenerator,
        VacancyGenerator,
        VoronoiInterstitialGenerator,
    )

    host = _host(seed, settings)
    structure = to_pymatgen(host)
    species = set(host.get_chemical_symbols())
    defects = []
    if settings.vacancies:
        defects += [('vacancy', defect) for defect in VacancyGenerator().generate(structure)]
    if settings.interstitials:
        generator = VoronoiInterstitialGenerator(min_dist=settings.min_distance_A)
        logging.getLogger('pymatgen.analysis.defects').setLevel(logging.WARNING)
        defects += [('interstitial', defect) for defect in generator.generate(structure, list(settings.interstitials))]
    if settings.antisites and len(species) > 1:
        defects += [('antisite', defect) for defect in AntiSiteGenerator().generate(structure)]
    substitutions = {host: list(dopants) for host, dopants in dict(settings.substitutions).items() if host in species}
    if substitutions:
        defects += [('substitution', defect) for defect in SubstitutionGenerator().generate(structure, substitutions)]
    frames = []
    for kind, defect in defects:
        atoms = from_pymatgen(defect.defect_structure, host.info)
        atoms.info.update(generator=kind, defect=defect.name, defect_multiplicity=int(defect.multiplicity))
        if kind != 'vacancy':
            atoms.info['defect_site_index'] = int(defect.defect_site_index)
        frames.append(atoms)
    enforce_max_atoms(frames, settings.max_atoms, 'point_defects')
    return frames
