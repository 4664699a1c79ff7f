"""Wall time of one NequIP training through ``NequipTrainCalculation`` vs the same job run by hand.

Both sides run the same job on this machine: ``nequip-train`` with the very config the calculation
wrote (read back from its node), then ``nequip-package build`` of the best checkpoint. The AiiDA side
is timed from ``run`` to the parsed outputs (upload, job script through the ``core.direct``
scheduler, polling every second as ``mlipgen setup`` configures localhost, retrieval, parsing and
storing the model, curve, metrics and checkpoint). Runs alternate bare/AiiDA to share machine noise.
Goal: ratio <= 1.05.

    python benchmarks/training_overhead.py                 # 60 Si8 frames, fast model, 30 epochs, 3 repeats
    python benchmarks/training_overhead.py --epochs 60 --repeats 3 --threads 2

A throw-away in-memory AiiDA profile is used: nothing is written to your profiles.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiida import load_profile, orm
from aiida.engine import run_get_node
from aiida.storage.sqlite_temp import SqliteTempBackend

TOOLS = Path(sys.executable).parent
JOB_START, JOB_END = 'job_start', 'job_end'


def set_up(workdir: Path, threads: int) -> orm.InstalledCode:
    """A temporary profile with a localhost computer (1 s polls) and the ``nequip-train`` code."""
    load_profile(SqliteTempBackend.create_profile('training-overhead'), allow_switch=True)
    computer = orm.Computer(
        label='localhost',
        hostname='localhost',
        transport_type='core.local',
        scheduler_type='core.direct',
        workdir=str(workdir / 'aiida'),
    ).store()
    computer.set_minimum_job_poll_interval(1.0)
    computer.configure(safe_interval=0)
    # The job script notes when it starts and ends (the code's append text runs after packaging).
    return orm.InstalledCode(
        computer=computer,
        filepath_executable=str(TOOLS / 'nequip-train'),
        default_calc_job_plugin='mlipgen.nequip.train',
        label='nequip-train',
        prepend_text=f'export OMP_NUM_THREADS={threads}\ndate +%s.%N > {JOB_START}',
        append_text=f'date +%s.%N > {JOB_END}',
    ).store()


def run_aiida(code, training, validation, hyperparameters: dict, seed: int) -> tuple[float, float, orm.CalcJobNode]:
    """Wall time of the calculation from launch to parsed outputs, that of its job script, and its node."""
    from aiida_mlipgen.calculations.nequip_train import NequipTrainCalculation

    builder = NequipTrainCalculation.get_builder()
    builder.code = code
    builder.training_dataset = training
    builder.validation_dataset = validation
    builder.hyperparameters = orm.Dict(hyperparameters)
    builder.seed = orm.Int(seed)
    builder.metadata.options.additional_retrieve_list = [JOB_START, JOB_END]
    start = time.perf_counter()
    _, node = run_get_node(builder)
    elapsed = time.perf_counter() - start
    if not node.is_finished_ok:
        raise RuntimeError(f'the calculation failed: {node.exit_status} {node.exit_message}')
    retrieved = node.outputs.retrieved.base.repository
    job = float(retrieved.get_object_content(JOB_END)) - float(retrieved.get_object_content(JOB_START))
    return elapsed, job, node


def run_bare(node: orm.CalcJobNode, workdir: Path, threads: int) -> float:
    """Wall time of the same job by hand: the calculation's config and datasets, train then package."""
    from aiida_mlipgen.calculations.nequip_train import NequipTrainCalculation as Calc

    workdir.mkdir(parents=True)
    (workdir / Calc.CONFIG_FILE).write_text(node.base.repository.get_object_content(Calc.CONFIG_FILE, mode='r'))
    node.inputs.training_dataset.export(workdir / Calc.TRAINING_FILE)
    node.inputs.validation_dataset.export(workdir / Calc.VALIDATION_FILE)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    train = [
        str(TOOLS / 'nequip-train'),
        '-cn',
        Calc.CONFIG_NAME,
        f'hydra.run.dir={Calc.OUTPUT_DIR}',
        'hydra.job.chdir=False',
    ]
    package = [str(TOOLS / 'nequip-package'), 'build', f'{Calc.OUTPUT_DIR}/best.ckpt', Calc.MODEL_FILE]
    start = time.perf_counter()
    for command in (train, package):
        subprocess.run(command, cwd=workdir, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--frames', type=int, default=60, help='training frames (8-atom Si cells); 10 more validate')
    parser.add_argument('--epochs', type=int, default=30)
    parser.add_argument('--repeats', type=int, default=3, help='pairs of runs (bare, AiiDA)')
    parser.add_argument('--threads', type=int, default=2, help='OMP_NUM_THREADS of every run')
    args = parser.parse_args()

    from aiida_mlipgen.data.dataset import DatasetData
    from aiida_mlipgen.science.teacher import sw_silicon_frames

    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        code = set_up(workdir, args.threads)
        training = DatasetData(sw_silicon_frames(args.frames, seed=0)).store()
        validation = DatasetData(sw_silicon_frames(10, seed=1)).store()
        hyperparameters = {
            'cutoff_radius': 4.0,
            'num_layers': 2,
            'num_features': 16,
            'l_max': 1,
            'max_epochs': args.epochs,
            'batch_size': 5,
            'device': 'cpu',
        }
        bare_times, aiida_times, job_times, node = [], [], [], None
        for repeat in range(args.repeats):
            # the first AiiDA run writes the config every bare run uses; then the order alternates
            if node is None or repeat % 2 == 0:
                seconds, job, node = run_aiida(code, training, validation, hyperparameters, seed=1)
                bare_times.append(run_bare(node, workdir / f'bare{repeat}', args.threads))
            else:
                bare_times.append(run_bare(node, workdir / f'bare{repeat}', args.threads))
                seconds, job, _ = run_aiida(code, training, validation, hyperparameters, seed=1)
            aiida_times.append(seconds)
            job_times.append(job)
            print(
                f'repeat {repeat}: bare {bare_times[-1]:.1f} s; AiiDA {seconds:.1f} s, of which its job script '
                f'{job:.1f} s (AiiDA outside the job {seconds - job:.1f} s); load {os.getloadavg()[0]:.1f}',
                flush=True,
            )
        epochs = node.outputs.metrics['epochs_completed']
        bare, aiida = statistics.median(bare_times), statistics.median(aiida_times)
        outside = statistics.median(a - j for a, j in zip(aiida_times, job_times, strict=True))
        within = statistics.median(a / j for a, j in zip(aiida_times, job_times, strict=True))
        print(f'\n{args.frames} training frames, {epochs} epochs, {args.threads} threads, {os.cpu_count()} cores')
        print(
            f'median wall time: bare nequip-train + nequip-package {bare:.1f} s, NequipTrainCalculation {aiida:.1f} s'
        )
        print(f'ratio AiiDA / bare = {aiida / bare:.3f} (goal <= 1.05)')
        print(
            f'AiiDA time outside its job script (upload, submission, polling, retrieval, parsing): median '
            f'{outside:.1f} s; AiiDA / its own job script = {within:.3f} (insensitive to machine load)'
        )


if __name__ == '__main__':
    main()
