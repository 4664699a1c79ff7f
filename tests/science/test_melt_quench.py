"""Melt-quench MD with Stillinger-Weber silicon: frame counts, phases, and a crystal that melted."""

import numpy as np
import pytest
from ase.build import bulk

from aiida_mlipgen.science.melt_quench import MeltQuenchSettings, melt_quench_frames
from aiida_mlipgen.science.teacher import stillinger_weber_silicon


def test_melt_quench_frames_are_liquid_then_quenched():
    crystal = bulk('Si', 'diamond', a=5.43, cubic=True)
    settings = MeltQuenchSettings(
        melt_temperature_K=5000.0,
        final_temperature_K=300.0,
        melt_steps=300,
        quench_steps=40,
        liquid_frames=2,
        quenched_frames=1,
        timestep_fs=2.0,
        friction_per_fs=0.02,
        seed=1,
    )
    frames = melt_quench_frames(crystal, settings, stillinger_weber_silicon())
    assert [atoms.info['phase'] for atoms in frames] == ['liquid', 'liquid', 'quenched']
    assert [atoms.info['md_step'] for atoms in frames] == [225, 300, 340]
    assert [atoms.info['temperature_K'] for atoms in frames] == [5000.0, 5000.0, 300.0]
    for atoms in frames:
        assert len(atoms) == 8 and atoms.calc is None
    # the liquid has left the diamond sites: mean square displacement (minimum image) above 0.5 A^2
    liquid = frames[1]
    offsets = liquid.get_scaled_positions() - crystal.get_scaled_positions()
    offsets -= np.round(offsets)
    msd = np.mean(np.sum((offsets @ crystal.cell.array) ** 2, axis=1))
    assert msd > 0.5


def test_settings_are_checked():
    with pytest.raises(ValueError, match='melt_temperature_K > final_temperature_K'):
        MeltQuenchSettings(melt_temperature_K=300.0, final_temperature_K=600.0)
    with pytest.raises(ValueError, match='more frames than MD steps'):
        MeltQuenchSettings(melt_steps=4, liquid_frames=3)
    with pytest.raises(ValueError, match='more than max_atoms=8'):
        melt_quench_frames(bulk('Si', 'diamond', a=5.43), MeltQuenchSettings(min_atoms=16, max_atoms=8), None)
