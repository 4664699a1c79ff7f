"""Matplotlib figures of the HTML report, each drawn from plain numbers (no AiiDA here) and saved as PNG.

Every function takes the data it plots and the path to write, and returns that path. Units are in the
axis labels: energies eV/atom, forces and deviations eV/A, stresses GPa, frequencies THz, time ps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

DPI = 110


def _figure(width: float = 6.0, height: float = 4.0, ncols: int = 1):
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    return figure, list(axes[0])


def _save(figure, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def learning_curves(rows: Sequence[Mapping], path: Path) -> Path:
    """Test errors of each iteration's committee against the DFT labels spent so far.

    Two series: the exploration test set (frames drawn at random from what the loop explored, the set
    that says whether the loop learns) and the fixed test set split off the initial set.
    """
    panels = (
        ('energy MAE (meV/atom)', ('test_energy_mae_meV_per_atom', 1.0), ('energy_mae_eV_per_atom', 1000.0)),
        ('force RMSE (meV/A)', ('test_force_rmse_eV_per_A', 1000.0), ('forces_rmse_eV_per_A', 1000.0)),
        ('stress RMSE (GPa)', ('test_stress_rmse_GPa', 1.0), ('stress_rmse_GPa', 1.0)),
    )
    series = (('exploration test set', 'C0', 'o-'), ('fixed test set', 'C1', 's--'))
    figure, axes = _figure(11, 3.4, ncols=3)
    labels = [row.get('dft_calls_total') for row in rows]
    for axis, (label, *keys) in zip(axes, panels, strict=True):
        for (name, color, style), (key, scale) in zip(series, keys, strict=True):
            points = [
                (n, row[key] * scale, row['iteration'])
                for n, row in zip(labels, rows, strict=True)
                if row.get(key) is not None and n is not None
            ]
            if not points:
                continue
            x, y, _ = zip(*points, strict=True)
            axis.plot(x, y, style, color=color, label=name)
            for xi, yi, iteration in points:
                axis.annotate(f'{iteration}', (xi, yi), textcoords='offset points', xytext=(4, 4), fontsize=8)
        axis.set_xlabel('DFT labels so far')
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[0].set_title('learning curve (points: iteration)', fontsize=10, loc='left')
    return _save(figure, path)


def parity(arrays: Mapping[str, np.ndarray], path: Path, title: str = '') -> Path:
    """Predicted against reference energy per atom, force components and stress components."""
    panels = [
        (name, unit)
        for name, unit in (('energy_per_atom', 'eV/atom'), ('forces', 'eV/A'), ('stress', 'GPa'))
        if f'{name}_reference' in arrays
    ]
    figure, axes = _figure(3.7 * max(len(panels), 1), 3.6, ncols=max(len(panels), 1))
    for axis, (name, unit) in zip(axes, panels, strict=False):
        reference = np.asarray(arrays[f'{name}_reference'])
        predicted = np.asarray(arrays[f'{name}_predicted'])
        low, high = float(min(reference.min(), predicted.min())), float(max(reference.max(), predicted.max()))
        pad = 0.05 * (high - low or 1.0)
        axis.plot([low - pad, high + pad], [low - pad, high + pad], color='0.6', lw=1)
        axis.scatter(reference, predicted, s=6, alpha=0.6)
        rmse = float(np.sqrt(np.mean((predicted - reference) ** 2)))
        axis.set_title(f'{name.replace("_", " ")}: RMSE {rmse:.3g} {unit}', fontsize=10)
        axis.set_xlabel(f'DFT ({unit})')
        axis.set_ylabel(f'model ({unit})')
        axis.set_aspect('equal', adjustable='datalim')
        axis.tick_params(axis='x', labelrotation=30)
    if title:
        figure.suptitle(title, fontsize=10)
    return _save(figure, path)


def deviation_histograms(deviations: Mapping[str, np.ndarray], trust: tuple[float, float] | None, path: Path) -> Path:
    """Max force deviation of the explored frames, one histogram per iteration, with the trust window."""
    figure, (axis,) = _figure(7, 3.8)
    values = [np.asarray(v, dtype=float) for v in deviations.values()]
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([0.0])
    top = float(finite.max()) * 1.05 if finite.size else 1.0
    if trust is not None:  # show the window, but never let a wide window squash the data
        top = max(top, min(trust[1] * 1.1, 3 * top), trust[0] * 1.5)
    bins = np.linspace(0, top, 40)
    for label, value in deviations.items():
        axis.hist(np.asarray(value)[np.isfinite(value)], bins=bins, histtype='step', lw=1.5, label=label)
    if trust is not None:
        axis.axvspan(trust[0], trust[1], color='C2', alpha=0.12, label=f'trust window {trust[0]}-{trust[1]} eV/A')
    axis.set_xlim(0, top)
    axis.set_xlabel('max force deviation (eV/A)')
    axis.set_ylabel('explored frames')
    axis.legend(fontsize=8)
    return _save(figure, path)


def calibration(deviation: np.ndarray, error: np.ndarray, trust_lo: float | None, spearman, path: Path) -> Path:
    """Each test frame's committee max force deviation against its true max force error."""
    figure, (axis,) = _figure(4.6, 4.2)
    axis.scatter(error, deviation, s=14, alpha=0.7)
    top = float(max(np.nanmax(error), np.nanmax(deviation))) * 1.1 or 1.0
    axis.plot([0, top], [0, top], color='0.6', lw=1)
    if trust_lo is not None:
        axis.axhline(trust_lo, color='C3', ls='--', lw=1, label=f'trust_lo {trust_lo} eV/A')
        axis.legend(fontsize=8)
    text = f'Spearman {spearman:.2f}' if isinstance(spearman, (int, float)) else 'Spearman: n/a'
    axis.set_title(f'calibration on the test set ({text})', fontsize=10)
    axis.set_xlabel('true max force error (eV/A)')
    axis.set_ylabel('committee max force deviation (eV/A)')
    return _save(figure, path)


def coverage(energies: Mapping[str, np.ndarray], forces: Mapping[str, np.ndarray], projection, path: Path) -> Path:
    """Energy per atom and force distributions of the labelled frames of each iteration, and a 2-D projection
    of their structural descriptors (``projection``: (points (n, 2), iteration labels (n,)) or None)."""
    figure, axes = _figure(12, 3.6, ncols=3)
    for label, values in energies.items():
        axes[0].hist(values, bins=20, histtype='step', lw=1.5, label=label)
    axes[0].set_xlabel('energy (eV/atom)')
    axes[0].set_ylabel('labelled frames')
    for label, values in forces.items():
        axes[1].hist(values, bins=30, histtype='step', lw=1.5, label=label, density=True)
    axes[1].set_xlabel('|force| per atom (eV/A)')
    axes[1].set_ylabel('density')
    axes[1].legend(fontsize=7)
    if projection is not None:
        points, groups = projection
        for group in dict.fromkeys(groups):
            mask = np.asarray(groups) == group
            axes[2].scatter(points[mask, 0], points[mask, 1], s=10, label=group, alpha=0.8)
        axes[2].set_xlabel('descriptor PC 1')
        axes[2].set_ylabel('descriptor PC 2')
        axes[2].legend(fontsize=7)
    else:
        axes[2].set_axis_off()
    return _save(figure, path)


def eos(arrays: Mapping[str, np.ndarray], num_atoms: int, metrics: Mapping, path: Path) -> Path:
    """E(V) per atom of the model and DFT, with their Birch-Murnaghan fits."""
    figure, (axis,) = _figure(5.2, 4.0)
    scale = 1.0 / num_atoms
    for who, colour in (('model', 'C0'), ('dft', 'C3')):
        volumes, energies = arrays.get(f'{who}_volumes_A3'), arrays.get(f'{who}_energies_eV')
        if volumes is None or len(volumes) == 0:
            continue
        # energies relative to each curve's own minimum: the absolute zero of DFT and of a model differ
        zero = float(np.min(energies))
        axis.plot(
            np.asarray(volumes) * scale,
            (np.asarray(energies) - zero) * scale,
            'o',
            color=colour,
            label=f'{"DFT" if who == "dft" else "model"}',
        )
        fit = arrays.get(f'{who}_fit_energies_eV')
        if fit is not None and 'fit_volumes_A3' in arrays:
            axis.plot(np.asarray(arrays['fit_volumes_A3']) * scale, (np.asarray(fit) - zero) * scale, '-', color=colour)
    parts = []
    for who in ('model', 'dft'):
        if who in metrics:
            parts.append(f'{who}: B0 {metrics[who]["bulk_modulus_GPa"]:.0f} GPa')
        elif f'{who}_error' in metrics:
            parts.append(f'{who}: no fit')
    if 'lattice_constant_relative_error' in metrics:
        parts.append(f'a0 error {100 * metrics["lattice_constant_relative_error"]:+.2f} %')
    axis.set_title(', '.join(parts), fontsize=9)
    axis.set_xlabel('volume (A^3/atom)')
    axis.set_ylabel('E - E_min (eV/atom)')
    axis.legend(fontsize=8)
    return _save(figure, path)


def phonons(arrays: Mapping[str, np.ndarray], labels: Sequence[str], metrics: Mapping, path: Path) -> Path:
    """Phonon bands along the high-symmetry path and the total DOS, model against DFT."""
    import matplotlib.gridspec as gridspec

    figure, _ = _figure(8, 4.2)
    figure.clf()
    grid = gridspec.GridSpec(1, 2, width_ratios=[4, 1], figure=figure)
    bands, dos = figure.add_subplot(grid[0]), figure.add_subplot(grid[1])
    distances = np.asarray(arrays['distances'])
    for who, colour, style in (('model', 'C0', '-'), ('dft', 'C3', '--')):
        key = f'{who}_frequencies_THz'
        if key in arrays:
            frequencies = np.asarray(arrays[key])
            for band in range(frequencies.shape[1]):
                bands.plot(
                    distances,
                    frequencies[:, band],
                    style,
                    color=colour,
                    lw=1.2,
                    label=('DFT' if who == 'dft' else 'model') if band == 0 else None,
                )
        if f'{who}_dos' in arrays:
            frequencies = arrays.get(f'{who}_dos_frequencies_THz', arrays.get('dos_frequencies_THz'))
            dos.plot(arrays[f'{who}_dos'], frequencies, style, color=colour)
    specials = np.asarray(arrays['special_distances'])
    for x in specials:
        bands.axvline(x, color='0.8', lw=0.8)
    bands.set_xticks(specials)
    bands.set_xticklabels(['Γ' if label == 'G' else label for label in labels])
    bands.set_xlim(distances[0], distances[-1])
    bands.set_ylabel('frequency (THz)')
    mae = metrics.get('mae_THz')
    bands.set_title(f'phonons: MAE {mae:.2f} THz' if mae is not None else 'phonons (model only)', fontsize=10)
    bands.legend(fontsize=8)
    dos.set_ylim(bands.get_ylim())
    dos.set_xlabel('DOS')
    dos.set_yticklabels([])
    return _save(figure, path)


def nve_traces(runs: Mapping[str, Mapping[str, np.ndarray]], path: Path) -> Path:
    """Total energy per atom (relative to its start) and temperature of each NVE run against time."""
    figure, axes = _figure(10, 3.6, ncols=2)
    for label, trace in runs.items():
        times = np.asarray(trace['times_fs']) / 1000
        total = np.asarray(trace['potential_energies_eV']) + np.asarray(trace['kinetic_energies_eV'])
        total = (total - total[0]) / trace['num_atoms'] * 1000
        axes[0].plot(times, total, label=label)
        axes[1].plot(times, trace['temperatures_K'], label=label)
    axes[0].set_xlabel('time (ps)')
    axes[0].set_ylabel('E_total - E_total(0) (meV/atom)')
    axes[0].set_title('NVE energy conservation', fontsize=10)
    axes[1].set_xlabel('time (ps)')
    axes[1].set_ylabel('temperature (K)')
    axes[0].legend(fontsize=8)
    return _save(figure, path)


def stage_costs(stage_seconds: Mapping[str, Mapping[str, float]], dft_calls: Mapping[str, int], path: Path) -> Path:
    """Wall time of each stage per iteration (stacked) and the DFT runs per iteration."""
    figure, axes = _figure(10, 3.6, ncols=2)
    iterations = list(stage_seconds)
    stages = sorted({stage for values in stage_seconds.values() for stage in values})
    bottom = np.zeros(len(iterations))
    for stage in stages:
        values = np.array([stage_seconds[it].get(stage, 0.0) for it in iterations])
        axes[0].bar(iterations, values, bottom=bottom, label=stage)
        bottom += values
    axes[0].set_ylabel('wall time (s)')
    axes[0].set_title('time per stage', fontsize=10)
    axes[0].legend(fontsize=8)
    axes[1].bar(list(dft_calls), list(dft_calls.values()), color='C3')
    axes[1].set_ylabel('DFT runs')
    axes[1].set_title('DFT per iteration', fontsize=10)
    return _save(figure, path)
