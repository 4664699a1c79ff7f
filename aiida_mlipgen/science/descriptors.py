"""A cheap structural fingerprint per frame, for diversity selection and near-duplicate detection.

The fingerprint concatenates two smoothed distributions, both averaged per atom:

* a partial radial distribution for every unordered species pair (a, b), a <= b:
  ``g_ab(r_k) = (1/N) sum_(i,j) f_c(d_ij) exp(-(r_k - d_ij)^2 / 2 s_r^2)`` over ordered pairs of
  atoms whose species are {a, b} (periodic images included, an atom with its own images too) with
  d_ij < ``cutoff``, so every pair counts twice (i->j and j->i); on ``num_radial_bins`` points r_k
  evenly spaced on [0, cutoff];
* a bond-angle distribution per central species c:
  ``h_c(t_k) = (1/N) sum_{i in c} sum_{j < k} f_a(d_ij) f_a(d_ik) exp(-(t_k - theta_jik)^2 / 2 s_t^2)``
  over neighbour pairs of i within ``angle_cutoff``, theta in radians on [0, pi].

``f_c(d) = (1 + cos(pi d / r_c)) / 2`` (Behler, J. Chem. Phys. 134, 074106 (2011)) makes both
smooth when an atom crosses a cutoff. Gaussian-smeared radial and angular distributions as
fingerprints follow e.g. Schütt et al., PRB 89, 205118 (2014) and Behler's radial/angular symmetry
functions; here they are averaged over atoms to describe a whole frame.

Properties: invariant to translation, rotation and permutation of atoms (only distances, angles
and species enter); normalised per atom, so a supercell has the same fingerprint as its unit cell
and frames of different sizes are comparable; length fixed by the settings
(``num_pairs * num_radial_bins + num_species * num_angle_bins``). Units: bin positions in A and
radians; values are smoothed neighbour counts per atom (dimensionless).

The same two distributions around one atom, without the average (:func:`atom_descriptors`), describe
that atom's local environment: the frame's fingerprint is the mean of its atoms' ones. Selection uses
them to see the environment where the committee disagrees most, which a whole-frame average of a
large cell with one defect or one surface hides.

Speed, measured on the 2-core development machine (one thread, default settings, 64-atom Si
frames rattled by 0.1 A, 10^3 frames): 105-110 frames/s on a quiet machine (about 85 frames/s of
CPU time while other jobs ran), so 10^4 frames take 1.5-2 min; two thirds of that is ASE's
``neighbor_list``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list


@dataclass(frozen=True)
class DescriptorSettings:
    """What fixes the fingerprint: species order, cutoffs (A), grids and smearing widths.

    :param species: chemical symbols, in the order their blocks appear (sorted on construction).
    :param cutoff: radial cutoff, A.
    :param num_radial_bins: grid points on [0, cutoff].
    :param radial_sigma: Gaussian width of the radial smearing, A.
    :param angle_cutoff: neighbour cutoff for bond angles, A, at most ``cutoff``.
    :param num_angle_bins: grid points on [0, pi].
    :param angle_sigma: Gaussian width of the angular smearing, radians.
    """

    species: tuple[str, ...]
    cutoff: float = 5.0
    num_radial_bins: int = 50
    radial_sigma: float = 0.1
    angle_cutoff: float = 3.0
    num_angle_bins: int = 30
    angle_sigma: float = 0.1

    def __post_init__(self):
        species = tuple(sorted(set(self.species)))
        if not species:
            raise ValueError('a descriptor needs at least one species')
        object.__setattr__(self, 'species', species)
        for name in ('cutoff', 'radial_sigma', 'angle_cutoff', 'angle_sigma'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f'{name} must be a positive number, got {value}')
        if self.angle_cutoff > self.cutoff:
            raise ValueError(f'angle_cutoff ({self.angle_cutoff} A) may not exceed cutoff ({self.cutoff} A)')
        for name in ('num_radial_bins', 'num_angle_bins'):
            if int(getattr(self, name)) < 2:
                raise ValueError(f'{name} must be at least 2, got {getattr(self, name)}')

    @classmethod
    def for_frames(cls, frames: Iterable[Atoms], **kwargs) -> DescriptorSettings:
        """Settings whose species are every species found in ``frames``."""
        species = {symbol for atoms in frames for symbol in atoms.get_chemical_symbols()}
        return cls(species=tuple(species), **kwargs)

    @property
    def species_pairs(self) -> list[tuple[str, str]]:
        """Unordered species pairs (a, b), a <= b, in block order."""
        return list(itertools.combinations_with_replacement(self.species, 2))

    @property
    def radial_grid(self) -> np.ndarray:
        """Radial grid points, A."""
        return np.linspace(0.0, self.cutoff, self.num_radial_bins)

    @property
    def angle_grid(self) -> np.ndarray:
        """Angular grid points, radians."""
        return np.linspace(0.0, np.pi, self.num_angle_bins)

    @property
    def length(self) -> int:
        """Length of the fingerprint vector."""
        return len(self.species_pairs) * self.num_radial_bins + len(self.species) * self.num_angle_bins


def _cutoff_function(distances: np.ndarray, cutoff: float) -> np.ndarray:
    return 0.5 * (1.0 + np.cos(np.pi * distances / cutoff))


def _smeared_histogram(
    values: np.ndarray,
    weights: np.ndarray,
    blocks: np.ndarray,
    num_blocks: int,
    grid: np.ndarray,
    sigma: float,
) -> np.ndarray:
    """Sum of weighted Gaussians centred on ``values``, accumulated into ``num_blocks`` blocks."""
    output = np.zeros((num_blocks, len(grid)))
    if values.size:
        gaussians = np.exp(-0.5 * ((grid[None, :] - values[:, None]) / sigma) ** 2) * weights[:, None]
        for block in np.unique(blocks):
            output[block] = gaussians[blocks == block].sum(axis=0)
    return output


def _angle_triplets(centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (p, q), p < q, of neighbour-list entries that share a centre.

    ``centres`` must be grouped (entries of one centre contiguous), as ASE's sorted list is.
    """
    num_entries = len(centres)
    if num_entries < 2:
        empty = np.zeros(0, dtype=int)
        return empty, empty
    group_starts = np.flatnonzero(np.concatenate(([True], centres[1:] != centres[:-1])))
    group_sizes = np.diff(np.append(group_starts, num_entries))
    group_end = np.repeat(group_starts + group_sizes, group_sizes)
    positions = np.arange(num_entries)
    partners = group_end - positions - 1
    first = np.repeat(positions, partners)
    offsets = np.arange(first.size) - np.repeat(np.cumsum(partners) - partners, partners)
    second = first + 1 + offsets
    return first, second


@dataclass(frozen=True)
class _NeighbourTerms:
    """What the Gaussians of both distributions are built from, one entry per term.

    Radial: one term per ordered pair (centre, neighbour) within ``cutoff``; angular: one per pair of
    neighbours of a centre within ``angle_cutoff``. ``*_centres`` are atom indices, ``*_blocks`` the
    species-pair (radial) or centre-species (angular) block of each term.
    """

    pair_centres: np.ndarray
    pair_distances: np.ndarray
    pair_weights: np.ndarray
    pair_blocks: np.ndarray
    angle_centres: np.ndarray
    angles: np.ndarray
    angle_weights: np.ndarray
    angle_blocks: np.ndarray


def _neighbour_terms(
    atoms: Atoms, settings: DescriptorSettings, is_centre: np.ndarray | None = None
) -> _NeighbourTerms:
    """The radial and angular terms of the atoms marked in ``is_centre`` (default: every atom).

    :raises ValueError: for species that ``settings`` does not list, or coinciding atoms.
    """
    symbols = atoms.get_chemical_symbols()
    unknown = sorted(set(symbols) - set(settings.species))
    if unknown:
        raise ValueError(f'species {unknown} are not in the descriptor species {list(settings.species)}')
    species_index = {symbol: index for index, symbol in enumerate(settings.species)}
    kinds = np.array([species_index[symbol] for symbol in symbols], dtype=int)
    num_species = len(settings.species)
    pair_block = np.full((num_species, num_species), -1)
    for block, (a, b) in enumerate(settings.species_pairs):
        pair_block[species_index[a], species_index[b]] = block
        pair_block[species_index[b], species_index[a]] = block

    first, second, distances, vectors = neighbor_list('ijdD', atoms, settings.cutoff)
    if np.any(distances == 0):
        index = int(np.argmin(distances))
        raise ValueError(f'atoms {first[index]} and {second[index]} (or a periodic image) coincide')
    if is_centre is not None:
        keep = is_centre[first]
        first, second, distances, vectors = first[keep], second[keep], distances[keep], vectors[keep]

    within = distances < settings.angle_cutoff
    centres, angle_distances, angle_vectors = first[within], distances[within], vectors[within]
    p, q = _angle_triplets(centres)
    cosines = np.einsum('ij,ij->i', angle_vectors[p], angle_vectors[q]) / (angle_distances[p] * angle_distances[q])
    smooth = _cutoff_function(angle_distances, settings.angle_cutoff)
    return _NeighbourTerms(
        pair_centres=first,
        pair_distances=distances,
        pair_weights=_cutoff_function(distances, settings.cutoff),
        pair_blocks=pair_block[kinds[first], kinds[second]],
        angle_centres=centres[p],
        angles=np.arccos(np.clip(cosines, -1.0, 1.0)),
        angle_weights=smooth[p] * smooth[q],
        angle_blocks=kinds[centres[p]],
    )


def structure_descriptor(atoms: Atoms, settings: DescriptorSettings) -> np.ndarray:
    """Fingerprint of one frame (see the module docstring), a vector of ``settings.length``.

    :raises ValueError: when the frame holds a species that ``settings`` does not list.
    """
    if len(atoms) == 0:
        raise ValueError('cannot describe a frame without atoms')
    terms = _neighbour_terms(atoms, settings)
    radial = _smeared_histogram(
        terms.pair_distances,
        terms.pair_weights,
        terms.pair_blocks,
        len(settings.species_pairs),
        settings.radial_grid,
        settings.radial_sigma,
    )
    angular = _smeared_histogram(
        terms.angles,
        terms.angle_weights,
        terms.angle_blocks,
        len(settings.species),
        settings.angle_grid,
        settings.angle_sigma,
    )
    return np.concatenate((radial.ravel(), angular.ravel())) / len(atoms)


def _accumulate(
    values: np.ndarray, weights: np.ndarray, rows: np.ndarray, blocks: np.ndarray, shape: tuple, grid, sigma
) -> np.ndarray:
    """Weighted Gaussians centred on ``values``, summed into ``output[row, block]`` (shape: rows, blocks, grid)."""
    output = np.zeros((*shape, len(grid)))
    if values.size:
        gaussians = np.exp(-0.5 * ((grid[None, :] - values[:, None]) / sigma) ** 2) * weights[:, None]
        np.add.at(output, (rows, blocks), gaussians)
    return output


def atom_descriptors(atoms: Atoms, settings: DescriptorSettings, centres: Sequence[int] | None = None) -> np.ndarray:
    """Fingerprints of the local environments of atoms ``centres`` (default: every atom), (len(centres), length).

    The blocks of :func:`structure_descriptor`, for one centre atom each and not divided by the number of
    atoms: the radial distribution of its neighbours per species pair and its bond-angle distribution, so
    that the mean over every atom of a frame is the frame's fingerprint. Units as there (A, radians;
    smoothed neighbour counts).

    :raises ValueError: for species that ``settings`` does not list, a centre out of range, coinciding atoms.
    """
    centres = np.arange(len(atoms)) if centres is None else np.asarray(centres, dtype=int).reshape(-1)
    if centres.size and (centres.min() < 0 or centres.max() >= len(atoms)):
        raise ValueError(f'centre atoms {centres.tolist()} out of range for a frame of {len(atoms)} atoms')
    row_of = np.full(len(atoms), -1)
    row_of[centres] = np.arange(len(centres))  # a centre given twice keeps its last row; both rows are filled below
    terms = _neighbour_terms(atoms, settings, is_centre=row_of >= 0)
    radial = _accumulate(
        terms.pair_distances,
        terms.pair_weights,
        row_of[terms.pair_centres],
        terms.pair_blocks,
        (len(centres), len(settings.species_pairs)),
        settings.radial_grid,
        settings.radial_sigma,
    )
    angular = _accumulate(
        terms.angles,
        terms.angle_weights,
        row_of[terms.angle_centres],
        terms.angle_blocks,
        (len(centres), len(settings.species)),
        settings.angle_grid,
        settings.angle_sigma,
    )
    rows = np.concatenate((radial.reshape(len(centres), -1), angular.reshape(len(centres), -1)), axis=1)
    return rows[row_of[centres]]


def descriptor_matrix(frames: Sequence[Atoms], settings: DescriptorSettings | None = None) -> np.ndarray:
    """Fingerprints of ``frames`` stacked into an array (frames, ``settings.length``).

    :param settings: defaults to :class:`DescriptorSettings` over every species in ``frames``;
        pass the same settings for every set you want to compare (e.g. candidates and training set).
    """
    frames = list(frames)
    if settings is None:
        if not frames:
            raise ValueError('cannot infer descriptor species from an empty list of frames')
        settings = DescriptorSettings.for_frames(frames)
    if not frames:
        return np.zeros((0, settings.length))
    return np.stack([structure_descriptor(atoms, settings) for atoms in frames])
