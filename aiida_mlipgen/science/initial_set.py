"""The recipe for an initial training set from seed structures: supercells, rattles, strains and the generators."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from ase import Atoms

from aiida_mlipgen.science.generators import (
    make_supercell,
    rattled_copies,
    shear_strained_copies,
    volume_strained_copies,
)
from aiida_mlipgen.science.structure_generation import GENERATORS, generate_structures, parse_generator_settings


@dataclass(frozen=True)
class InitialSetRecipe:
    """How to turn each seed structure into initial frames.

    min_atoms / min_width_A: the seed is first made a supercell with at least this many atoms / this
        perpendicular width (A); None leaves that criterion out (both None: the seed as it is).
    rattle_amplitudes_A: Gaussian std per Cartesian component (A) of the rattled copies of the supercell.
    copies_per_amplitude: rattled copies per amplitude.
    volume_changes_percent / shear_strains: strained copies of the supercell; each strained copy is
        also rattled once at the smallest amplitude, so that it carries forces too (a strained perfect
        crystal has zero forces by symmetry).
    include_seed: also keep the unrattled supercell (zero forces: an energy/stress reference).
    seed: random seed of the rattles.
    point_defects / surfaces / alloys / phonon_displacements / melt_quench: settings of the structure
        generators (``aiida_mlipgen.science.structure_generation.GENERATORS``) applied to every seed; None
        leaves a generator out. Their structures join the set as generated (no further rattle or strain);
        a generator without its own ``min_atoms`` uses the recipe's, and its random seed is offset per seed.
    """

    min_atoms: int | None = None
    min_width_A: float | None = None  # noqa: N815 - unit in the name
    rattle_amplitudes_A: Sequence[float] = (0.02, 0.05, 0.1)  # noqa: N815
    copies_per_amplitude: int = 2
    volume_changes_percent: Sequence[float] = (-6.0, -3.0, 3.0, 6.0)
    shear_strains: Sequence[float] = field(default_factory=tuple)
    include_seed: bool = True
    seed: int = 0
    point_defects: Mapping | None = None
    surfaces: Mapping | None = None
    alloys: Mapping | None = None
    phonon_displacements: Mapping | None = None
    melt_quench: Mapping | None = None

    def __post_init__(self):
        self.generator_settings()  # refuse bad generator settings when the recipe is made, not when it runs

    def generator_settings(self) -> dict:
        """The settings objects of the generators this recipe uses (raises ValueError for bad values)."""
        return {
            kind: parse_generator_settings(kind, getattr(self, kind))
            for kind in GENERATORS
            if getattr(self, kind) is not None
        }

    @classmethod
    def from_dict(cls, values: Mapping) -> InitialSetRecipe:
        """Build from a plain dict, refusing unknown keys (a typo would otherwise be ignored silently)."""
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f'unknown initial-set keys {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}')
        return cls(**values)


def initial_frames(seeds: Sequence[Atoms], recipe: InitialSetRecipe) -> list[Atoms]:
    """Frames of the initial set for every seed, each with ``info['seed_index']`` and how it was made."""
    if not seeds:
        raise ValueError('an initial set needs at least one seed structure')
    if not recipe.rattle_amplitudes_A:
        raise ValueError('give at least one rattle amplitude: unrattled frames carry no force information')
    smallest = min(recipe.rattle_amplitudes_A)
    frames = []
    for index, seed_atoms in enumerate(seeds):
        base = seed_atoms
        if recipe.min_atoms is not None or recipe.min_width_A is not None:
            base = make_supercell(seed_atoms, min_atoms=recipe.min_atoms, min_width_A=recipe.min_width_A)
        produced = [base.copy()] if recipe.include_seed else []
        produced += rattled_copies(
            base, recipe.rattle_amplitudes_A, recipe.copies_per_amplitude, seed=recipe.seed + index
        )
        strained = volume_strained_copies(base, recipe.volume_changes_percent)
        strained += shear_strained_copies(base, recipe.shear_strains) if recipe.shear_strains else []
        produced += strained
        for offset, atoms in enumerate(strained):
            produced += rattled_copies(atoms, [smallest], 1, seed=recipe.seed + 1000 * (index + 1) + offset)
        produced += generated_frames(seed_atoms, index, recipe)
        for atoms in produced:
            atoms.info['seed_index'] = index
        frames += produced
    return frames


def generated_frames(seed_atoms: Atoms, index: int, recipe: InitialSetRecipe) -> list[Atoms]:
    """The structures of the recipe's generators for seed number ``index``, in ``GENERATORS`` order."""
    frames = []
    for kind, settings in recipe.generator_settings().items():
        if getattr(settings, 'min_atoms', False) is None and recipe.min_atoms is not None:
            settings = replace(settings, min_atoms=recipe.min_atoms)
        if hasattr(settings, 'seed'):
            settings = replace(settings, seed=settings.seed + index)
        frames += generate_structures(kind, seed_atoms, settings)
    return frames
