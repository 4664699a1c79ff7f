"""Batched inference of a committee of NequIP models, with DP-GEN committee deviations.

The models are loaded once; frames (of any sizes) are grouped into batches, each batch's neighbour
lists are built once and fed to every member in one forward pass. Units: energies eV, forces eV/A,
stresses eV/A^3 in ASE's sign convention (Voigt order xx yy zz yz xz xy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from ase import Atoms

from aiida_mlipgen.science.deviations import FrameDeviation, frame_deviation

from .models import LoadedModel, load_model


@dataclass
class CommitteePrediction:
    """Predictions of N members for M frames.

    :param energies: (N, M) total energies, eV.
    :param forces: M arrays of shape (N, A_m, 3), eV/A (frames may differ in size).
    :param stresses: (N, M, 6) Voigt stresses, eV/A^3, ASE sign convention; nan for frames
        without a cell.
    """

    energies: np.ndarray
    forces: list[np.ndarray]
    stresses: np.ndarray

    @property
    def num_members(self) -> int:
        return self.energies.shape[0]

    @property
    def num_frames(self) -> int:
        return self.energies.shape[1]

    def frame_deviation(self, index: int) -> FrameDeviation:
        """Committee deviations of frame ``index`` (see :func:`~aiida_mlipgen.science.deviations.frame_deviation`)."""
        stresses = self.stresses[:, index]
        return frame_deviation(
            self.energies[:, index],
            self.forces[index],
            None if np.isnan(stresses).all() else stresses,
        )

    @classmethod
    def stack(cls, parts: Sequence[CommitteePrediction]) -> CommitteePrediction:
        """Join predictions of different members for the same frames (members in the order given)."""
        return cls(
            energies=np.concatenate([part.energies for part in parts], axis=0),
            forces=[
                np.concatenate(frame_parts, axis=0) for frame_parts in zip(*(p.forces for p in parts), strict=True)
            ],
            stresses=np.concatenate([part.stresses for part in parts], axis=0),
        )

    def deviations(self) -> list[FrameDeviation]:
        """Committee deviations of every frame, in frame order."""
        return [self.frame_deviation(index) for index in range(self.num_frames)]

    def member(self, member: int, index: int) -> dict[str, np.ndarray | float]:
        """Return ``{'energy', 'forces', 'stress'}`` of one member for frame ``index``."""
        return {
            'energy': float(self.energies[member, index]),
            'forces': self.forces[index][member],
            'stress': self.stresses[member, index],
        }

    def mean(self, index: int) -> dict[str, np.ndarray | float]:
        """Return the committee mean ``{'energy', 'forces', 'stress'}`` for frame ``index``."""
        return {
            'energy': float(self.energies[:, index].mean()),
            'forces': self.forces[index].mean(axis=0),
            'stress': self.stresses[:, index].mean(axis=0),
        }


def _full_to_voigt(stress: np.ndarray) -> np.ndarray:
    """(M, 3, 3) -> (M, 6) in ASE's Voigt order xx yy zz yz xz xy."""
    return stress[:, [0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]


class Committee:
    """N NequIP models evaluated together on batches of ASE frames.

    Build with :meth:`from_files`; call :meth:`predict`.
    """

    def __init__(self, members: Sequence[LoadedModel], device: str | torch.device = 'cpu'):
        if not members:
            raise ValueError('a committee needs at least one model')
        self.members = list(members)
        self.device = torch.device(device)
        accepted = set(self.members[0].species_to_type)
        for member in self.members[1:]:
            accepted &= set(member.species_to_type)
        #: chemical symbols every member can evaluate
        self.species = sorted(accepted)

    @classmethod
    def from_files(
        cls,
        paths: Sequence[str | Path],
        device: str | torch.device = 'cpu',
        species_to_type: dict[str, str] | None = None,
    ) -> Committee:
        """Load every model file once (``.nequip.zip``, ``.ckpt`` or ``.nequip.pt2``) onto ``device``."""
        if device == 'cuda' and not torch.cuda.is_available():
            raise ValueError('device `cuda` requested but torch sees no CUDA device here')
        return cls([load_model(path, device, species_to_type) for path in paths], device)

    def __len__(self) -> int:
        return len(self.members)

    def unknown_species(self, atoms: Atoms) -> list[str]:
        """Chemical symbols in ``atoms`` that not every member can evaluate (sorted)."""
        return sorted(set(atoms.get_chemical_symbols()) - set(self.species))

    def check_species(self, frames: Sequence[Atoms]) -> None:
        """Raise ValueError naming the species (and first frame) the committee cannot evaluate."""
        for index, atoms in enumerate(frames):
            unknown = self.unknown_species(atoms)
            if unknown:
                raise ValueError(
                    f'frame {index} contains species {unknown} that the committee does not know; '
                    f'its models were trained on {self.species}'
                )

    def _frame_data(self, atoms: Atoms, member: LoadedModel) -> dict[str, torch.Tensor]:
        from nequip.data import AtomicDataDict, from_ase

        bare = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        data = from_ase(bare)
        for transform in member.transforms:
            data = transform(data)
        return AtomicDataDict.to_(data, self.device)

    def _run(self, member: LoadedModel, data: dict[str, torch.Tensor]):
        """Return (energies (M,), forces (sum A, 3), stresses (M, 3, 3)) as float64 numpy arrays."""
        from nequip.data import AtomicDataDict

        with torch.enable_grad():
            out = member.module(dict(data))
        num_frames = AtomicDataDict.num_frames(data)
        energy = out[AtomicDataDict.TOTAL_ENERGY_KEY].detach().to('cpu', torch.float64).numpy()
        forces = out[AtomicDataDict.FORCE_KEY].detach().to('cpu', torch.float64).numpy()
        stress = out.get(AtomicDataDict.STRESS_KEY)
        if stress is None or stress.numel() != 9 * num_frames:
            stress = np.full((num_frames, 3, 3), np.nan)
        else:
            stress = stress.detach().to('cpu', torch.float64).numpy().reshape(num_frames, 3, 3)
        return energy.reshape(num_frames), forces, stress

    def _batch_inputs(self, frames: Sequence[Atoms], member: LoadedModel) -> list[dict[str, torch.Tensor]]:
        """Model inputs for ``frames``: one batched dict, or one dict per frame for single-frame models.

        A batch smaller than the model accepts is padded with copies of its last frame; the padding
        is dropped from the results by :meth:`_run`'s caller.
        """
        from nequip.data import AtomicDataDict

        per_frame = [self._frame_data(atoms, member) for atoms in frames]
        if not member.takes_batches:
            return per_frame
        padding = max(0, member.min_batch_frames - len(per_frame))
        return [AtomicDataDict.batched_from_list(per_frame + [per_frame[-1]] * padding)]

    def predict(
        self, frames: Sequence[Atoms], batch_size: int = 16, members: Sequence[int] | None = None
    ) -> CommitteePrediction:
        """Energies, forces and stresses of every member (or of ``members``) for every frame.

        :param frames: ASE frames, any sizes; only numbers, positions, cell and pbc are used.
        :param batch_size: frames per forward pass (memory grows with it; 8-32 is good on CPU).
        :param members: indices of the members to evaluate, in the order wanted; default all.
        :raises ValueError: for an empty frame list, a bad batch size, bad member indices or
            unknown species.
        """
        frames = list(frames)
        if not frames:
            raise ValueError('no frames to evaluate')
        if batch_size < 1:
            raise ValueError(f'batch_size must be a positive integer, got {batch_size}')
        if members is None:
            selected = self.members
        else:
            if not members or any(not 0 <= index < len(self.members) for index in members):
                raise ValueError(f'member indices must be in 0..{len(self.members) - 1}, got {list(members)}')
            selected = [self.members[index] for index in members]
        self.check_species(frames)
        num_members, num_frames = len(selected), len(frames)
        energies = np.empty((num_members, num_frames))
        stresses = np.empty((num_members, num_frames, 6))
        forces = [np.empty((num_members, len(atoms), 3)) for atoms in frames]

        for start in range(0, num_frames, batch_size):
            chunk = frames[start : start + batch_size]
            inputs_by_signature: dict[tuple, list[dict[str, torch.Tensor]]] = {}
            for index, member in enumerate(selected):
                key = (member.signature, member.takes_batches, member.min_batch_frames)
                if key not in inputs_by_signature:
                    inputs_by_signature[key] = self._batch_inputs(chunk, member)
                frame = start
                for data in inputs_by_signature[key]:
                    energy, force, stress = self._run(member, data)
                    count = min(len(energy), start + len(chunk) - frame)  # drop padding frames
                    energies[index, frame : frame + count] = energy[:count]
                    stresses[index, frame : frame + count] = _full_to_voigt(stress[:count])
                    offset = 0
                    for position in range(frame, frame + count):
                        size = len(frames[position])
                        forces[position][index] = force[offset : offset + size]
                        offset += size
                    frame += count
        return CommitteePrediction(energies=energies, forces=forces, stresses=stresses)
