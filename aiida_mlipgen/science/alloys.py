"""Substitutional alloys: random occupations and special quasirandom structures (SQS).

An SQS (Zunger, Wei, Ferreira and Bernard, PRL 65, 353 (1990)) is the periodic cell of a given size
whose short-range pair (and cluster) correlations best match those of the ideal random alloy. The
search is icet's simulated annealing over occupations of a fixed supercell
(``icet.tools.structure_generation.generate_sqs_from_supercells``; Angqvist et al., Adv. Theory
Simul. 2, 1900015 (2019)) with pair clusters up to ``cutoffs_A``. ``warren_cowley`` measures the
result: alpha = 1 - P(B around A) / c_B per neighbour shell is 0 for a random alloy, negative for
ordering, positive for clustering (Cowley, Phys. Rev. 77, 669 (1950)).

Every structure records ``info['generator']`` (``'sqs'`` or ``'random_alloy'``), ``composition``
(fractions of the mixed sublattice as a string, e.g. ``'Ge0.5Si0.5'``) and ``copy_index``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from aiida_mlipgen.science.generators import make_supercell
from aiida_mlipgen.science.structure_tools import (
    bare_copy,
    check_positive_int,
    enforce_max_atoms,
    settings_from_dict,
)

METHODS = ('sqs', 'random')


@dataclass(frozen=True)
class AlloySettings:
    """Which alloy cells to make from a seed.

    compositions: fractions of the mixed sublattice, e.g. ``[{'Si': 0.5, 'Ge': 0.5}]``; each must be exact
        in the supercell's number of sublattice sites.
    sublattice: the seed's species whose sites are mixed (None: the seed's only species; a seed without this
        species is skipped).
    method: ``'sqs'`` (icet) or ``'random'`` (a random permutation of exact counts).
    copies: structures per composition (SQS: different annealing seeds).
    min_atoms: the supercell of the seed holds at least this many atoms.
    max_atoms: refuse larger structures (each may be labelled with DFT).
    cutoffs_A: icet cluster-space cutoffs, A, by cluster order (pairs first).
    sqs_steps: Monte-Carlo steps of the SQS annealing.
    atomic_volumes_A3: if given, the cell is scaled isotropically to the sum of these volumes (A^3 per atom of
        each species): Vegard's law in volume.
    seed: random seed.
    """

    compositions: Sequence[Mapping[str, float]] = ()
    sublattice: str | None = None
    method: str = 'sqs'
    copies: int = 1
    min_atoms: int = 8
    max_atoms: int = 64
    cutoffs_A: Sequence[float] = (5.0,)  # noqa: N815 - unit in the name
    sqs_steps: int = 3000
    atomic_volumes_A3: Mapping[str, float] | None = None  # noqa: N815
    seed: int = 0

    def __post_init__(self):
        if not self.compositions:
            raise ValueError('alloys.compositions needs at least one composition, e.g. [{"Si": 0.5, "Ge": 0.5}]')
        for composition in self.compositions:
            fractions = list(dict(composition).values())
            if len(fractions) < 2 or any(not 0 < value < 1 for value in fractions):
                raise ValueError(f'alloys composition {composition} needs >= 2 species with fractions in (0, 1)')
            if not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
                raise ValueError(f'alloys composition {composition} must sum to 1')
        if self.method not in METHODS:
            raise ValueError(f'alloys.method must be one of {METHODS}, got {self.method!r}')
        for name in ('copies', 'min_atoms', 'max_atoms', 'sqs_steps'):
            check_positive_int(getattr(self, name), f'alloys.{name}')
        if not self.cutoffs_A or any(not value > 0 for value in self.cutoffs_A):
            raise ValueError(f'alloys.cutoffs_A must be positive distances (A), got {self.cutoffs_A}')
        if self.atomic_volumes_A3 is not None and any(not v > 0 for v in dict(self.atomic_volumes_A3).values()):
            raise ValueError(f'alloys.atomic_volumes_A3 must be positive (A^3/atom), got {self.atomic_volumes_A3}')

    @classmethod
    def from_dict(cls, values: Mapping | None) -> AlloySettings:
        """Settings from a plain dict (unknown keys refused)."""
        return settings_from_dict(cls, values, 'alloys')


def site_counts(num_sites: int, composition: Mapping[str, float]) -> dict[str, int]:
    """Exact number of sites per species for ``composition`` on ``num_sites`` sites.

    :raises ValueError: when a fraction times ``num_sites`` is not an integer (to 1e-6).
    """
    counts = {symbol: round(fraction * num_sites) for symbol, fraction in composition.items()}
    exact = all(abs(fraction * num_sites - counts[s]) < 1e-6 for s, fraction in composition.items())
    if not exact or sum(counts.values()) != num_sites:
        raise ValueError(
            f'composition {dict(composition)} is not exact on {num_sites} sites: choose min_atoms so that '
            'every fraction times the number of mixed sites is an integer'
        )
    return counts


def scale_to_atomic_volumes(atoms: Atoms, atomic_volumes_A3: Mapping[str, float]) -> Atoms:  # noqa: N803
    """A copy scaled isotropically (fractional coordinates kept) to the volume sum of ``atomic_volumes_A3``."""
    missing = set(atoms.get_chemical_symbols()) - set(atomic_volumes_A3)
    if missing:
        raise ValueError(f'atomic_volumes_A3 lacks {sorted(missing)}')
    target = sum(atomic_volumes_A3[symbol] for symbol in atoms.get_chemical_symbols())
    copy = bare_copy(atoms)
    copy.set_cell(atoms.cell.array * (target / atoms.get_volume()) ** (1 / 3), scale_atoms=True)
    return copy


def _mixed_sites(atoms: Atoms, sublattice: str) -> np.ndarray:
    return np.flatnonzero(np.array(atoms.get_chemical_symbols()) == sublattice)


def random_alloy(atoms: Atoms, composition: Mapping[str, float], sublattice: str, seed: int = 0) -> Atoms:
    """A copy with the ``sublattice`` sites occupied at random with the exact counts of ``composition``."""
    sites = _mixed_sites(atoms, sublattice)
    counts = site_counts(len(sites), composition)
    symbols = np.array(atoms.get_chemical_symbols(), dtype=object)
    occupation = np.concatenate([[symbol] * count for symbol, count in sorted(counts.items())])
    symbols[sites] = np.random.default_rng(seed).permutation(occupation)
    alloy = bare_copy(atoms)
    alloy.set_chemical_symbols(list(symbols))
    return alloy


def sqs(
    primitive: Atoms,
    supercell: Atoms,
    composition: Mapping[str, float],
    sublattice: str,
    cutoffs_A: Sequence[float] = (5.0,),  # noqa: N803 - unit in the name
    steps: int = 3000,
    seed: int = 0,
) -> Atoms:
    """An SQS occupation of ``supercell`` (a supercell of ``primitive``) for ``composition`` on ``sublattice``.

    The other species of ``primitive`` stay where they are. icet anneals the occupation towards the cluster
    vector of the random alloy.
    """
    from icet import ClusterSpace
    from icet.input_output.logging_tools import set_log_config
    from icet.tools.structure_generation import generate_sqs_from_supercells

    set_log_config(level='WARNING')
    site_counts(len(_mixed_sites(supercell, sublattice)), composition)  # refuse inexact compositions early
    allowed = [sorted(composition) if symbol == sublattice else [symbol] for symbol in primitive.get_chemical_symbols()]
    space = ClusterSpace(bare_copy(primitive), cutoffs=list(cutoffs_A), chemical_symbols=allowed)
    best = generate_sqs_from_supercells(
        space, [bare_copy(supercell)], target_concentrations=dict(composition), n_steps=steps, random_seed=seed
    )
    alloy = bare_copy(supercell)
    alloy.set_chemical_symbols(best.get_chemical_symbols())
    alloy.positions = best.positions  # icet keeps the supercell's site order and positions
    return alloy


def warren_cowley(atoms: Atoms, centre: str, neighbour: str, shell_A: tuple[float, float]) -> float:  # noqa: N803
    """Warren-Cowley parameter alpha = 1 - P(neighbour | centre) / c_neighbour over one neighbour shell.

    :param shell_A: (inner, outer) radii of the shell, A; pairs at distances in [inner, outer) count.
    """
    from ase.neighborlist import neighbor_list

    first, second, distances = neighbor_list('ijd', atoms, shell_A[1])
    in_shell = distances >= shell_A[0]
    symbols = np.array(atoms.get_chemical_symbols())
    around = in_shell & (symbols[first] == centre)
    if not around.any():
        raise ValueError(f'no {centre} atom has a neighbour between {shell_A[0]} and {shell_A[1]} A')
    probability = float(np.mean(symbols[second[around]] == neighbour))
    concentration = float(np.mean(symbols == neighbour))
    return 1.0 - probability / concentration


def alloy_structures(seed: Atoms, settings: AlloySettings) -> list[Atoms]:
    """``copies`` alloy cells per composition of a supercell of ``seed`` (none if it lacks the sublattice)."""
    species = sorted(set(seed.get_chemical_symbols()))
    sublattice = settings.sublattice
    if sublattice is None:
        if len(species) != 1:
            raise ValueError(f'alloys.sublattice must name the mixed species of a seed with several ({species})')
        sublattice = species[0]
    if sublattice not in species:
        return []
    supercell = make_supercell(seed, min_atoms=settings.min_atoms)
    frames = []
    for composition in settings.compositions:
        composition = {symbol: float(value) for symbol, value in sorted(dict(composition).items())}
        for index in range(settings.copies):
            if settings.method == 'sqs':
                alloy = sqs(
                    seed,
                    supercell,
                    composition,
                    sublattice,
                    settings.cutoffs_A,
                    settings.sqs_steps,
                    seed=settings.seed + index,
                )
            else:
                alloy = random_alloy(supercell, composition, sublattice, seed=settings.seed + index)
            if settings.atomic_volumes_A3 is not None:
                alloy = scale_to_atomic_volumes(alloy, settings.atomic_volumes_A3)
            alloy.info.update(
                generator='sqs' if settings.method == 'sqs' else 'random_alloy',
                composition=''.join(f'{symbol}{value:g}' for symbol, value in composition.items()),
                copy_index=index,
            )
            frames.append(alloy)
    enforce_max_atoms(frames, settings.max_atoms, 'alloys')
    return frames
