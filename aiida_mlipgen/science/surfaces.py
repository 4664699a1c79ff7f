"""Surface slabs by Miller index, with an exact vacuum gap, from pymatgen's ``SlabGenerator``.

As in DP-GEN's surface initialisation and TrainsPot's slab sets: for each Miller index (of the
conventional standard cell, as pymatgen reads them) every distinct termination of a slab at least
``min_slab_A`` thick is kept. The cell vector c is then made normal to the surface and its length set
so that the gap between the top layer and the periodic image of the bottom layer is exactly
``vacuum_A`` (A). Slabs stay periodic in 3D, as plane-wave DFT needs. Every slab records
``info['generator'] = 'surface'``, ``miller_index``, ``termination``, ``slab_thickness_A`` and ``vacuum_A``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from aiida_mlipgen.science.structure_tools import (
    check_positive_int,
    enforce_max_atoms,
    from_pymatgen,
    settings_from_dict,
    to_pymatgen,
)


@dataclass(frozen=True)
class SurfaceSettings:
    """Which slabs to cut.

    miller_indices: Miller indices (h, k, l) of the conventional standard cell, e.g. ``[[1, 0, 0], [1, 1, 1]]``.
    min_slab_A: minimum slab thickness, A (pymatgen adds whole planes until it is reached).
    vacuum_A: gap between a slab and its periodic image along the surface normal, A.
    max_terminations: keep at most this many terminations per Miller index (None: all).
    max_atoms: refuse larger slabs (each may be labelled with DFT).
    """

    miller_indices: Sequence[Sequence[int]] = ((1, 0, 0), (1, 1, 0), (1, 1, 1))
    min_slab_A: float = 6.0  # noqa: N815 - unit in the name
    vacuum_A: float = 10.0  # noqa: N815
    max_terminations: int | None = None
    max_atoms: int = 64

    def __post_init__(self):
        if not self.miller_indices:
            raise ValueError('surfaces.miller_indices needs at least one (h, k, l)')
        for index in self.miller_indices:
            if len(index) != 3 or any(int(value) != value for value in index) or not any(index):
                raise ValueError(f'surfaces.miller_indices holds {index!r}: give three integers, not all zero')
        if not self.min_slab_A > 0 or not self.vacuum_A > 0:
            raise ValueError(
                f'surfaces.min_slab_A and vacuum_A must be > 0 (A), got {self.min_slab_A}, {self.vacuum_A}'
            )
        if self.max_terminations is not None:
            check_positive_int(self.max_terminations, 'surfaces.max_terminations')
        check_positive_int(self.max_atoms, 'surfaces.max_atoms')

    @classmethod
    def from_dict(cls, values: Mapping | None) -> SurfaceSettings:
        """Settings from a plain dict (unknown keys refused)."""
        return settings_from_dict(cls, values, 'surfaces')


def surface_normal_heights(atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
    """The unit normal of the (a, b) plane and each atom's height along it, A."""
    normal = np.cross(atoms.cell[0], atoms.cell[1])
    normal /= np.linalg.norm(normal)
    if np.dot(normal, atoms.cell[2]) < 0:
        normal = -normal
    return normal, atoms.positions @ normal


def vacuum_gap(atoms: Atoms) -> float:
    """Gap between the top atom and the periodic image of the bottom atom along the surface normal, A."""
    normal, heights = surface_normal_heights(atoms)
    period = float(np.dot(atoms.cell[2], normal))
    return period - float(heights.max() - heights.min())


def set_vacuum(slab: Atoms, vacuum_A: float) -> Atoms:  # noqa: N803 - unit in the name
    """A copy whose c vector is along the surface normal, the slab centred with exactly ``vacuum_A`` of gap."""
    slab = slab.copy()
    slab.wrap()
    normal, heights = surface_normal_heights(slab)
    thickness = float(heights.max() - heights.min())
    slab.positions += np.outer(vacuum_A / 2 - heights.min(), normal)
    slab.set_cell([slab.cell[0], slab.cell[1], normal * (thickness + vacuum_A)], scale_atoms=False)
    slab.wrap()
    return slab


def slab_structures(bulk: Atoms, settings: SurfaceSettings) -> list[Atoms]:
    """Slabs of every distinct termination for each Miller index, in the order of ``settings.miller_indices``.

    :raises ValueError: if ``bulk`` is not periodic in 3D, or a slab would exceed ``settings.max_atoms``.
    """
    from pymatgen.core.surface import SlabGenerator
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    conventional = SpacegroupAnalyzer(to_pymatgen(bulk)).get_conventional_standard_structure()
    frames = []
    for miller in settings.miller_indices:
        miller = tuple(int(value) for value in miller)
        generator = SlabGenerator(
            conventional,
            miller,
            min_slab_size=settings.min_slab_A,
            min_vacuum_size=settings.vacuum_A,
            center_slab=True,
            primitive=True,
            lll_reduce=True,
            max_normal_search=max(abs(value) for value in miller),
        )
        slabs = generator.get_slabs()
        if settings.max_terminations is not None:
            slabs = slabs[: settings.max_terminations]
        for termination, slab in enumerate(slabs):
            atoms = set_vacuum(from_pymatgen(slab.get_orthogonal_c_slab(), bulk.info), settings.vacuum_A)
            _, heights = surface_normal_heights(atoms)
            atoms.info.update(
                generator='surface',
                miller_index=list(miller),
                termination=termination,
                slab_thickness_A=float(heights.max() - heights.min()),
                vacuum_A=float(settings.vacuum_A),
            )
            frames.append(atoms)
    enforce_max_atoms(frames, settings.max_atoms, 'surfaces')
    return frames
