"""One exit-code scheme for every CalcJob and WorkChain of the package (no AiiDA import).

The ranges follow aiida-core and aiida-quantumespresso:

* 1-99 and 100-199 are aiida-core's own (any process; a CalcJob's scheduler and retrieval);
* 200-299: the input was refused and nothing, or nothing useful, ran;
* 300-399: critical: an output is missing or unreadable, or the program stopped with an error; restarting
  with the same input will not help (aiida-quantumespresso's PwCalculation 3xx; BaseRestartWorkChain's 301/302);
* 400-499: a CalcJob found an error while parsing, attached what it could, and a restart may help
  (PwCalculation's 400 out of walltime, 410 SCF not converged); for work chains, sub-processes that failed
  (aiida-quantumespresso's ``ERROR_SUB_PROCESS_FAILED_*``; BaseRestartWorkChain's 401/402).

A number means one thing in every process, and a label has one number. Processes declare their codes with
:func:`declare`; ``docs/reference.md`` ("Exit codes") lists every code, who uses it and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExitCodeDefinition:
    """One exit code of the scheme: its number, label, meaning, and what a user should do about it."""

    status: int
    label: str
    meaning: str
    action: str
    invalidates_cache: bool = True


#: Exit codes that aiida-core's Process, CalcJob and BaseRestartWorkChain define and our processes inherit.
INHERITED = {
    1: 'ERROR_UNSPECIFIED',
    2: 'ERROR_LEGACY_FAILURE',
    10: 'ERROR_INVALID_OUTPUT',
    11: 'ERROR_MISSING_OUTPUT',
    100: 'ERROR_NO_RETRIEVED_FOLDER',
    110: 'ERROR_SCHEDULER_OUT_OF_MEMORY',
    120: 'ERROR_SCHEDULER_OUT_OF_WALLTIME',
    131: 'ERROR_SCHEDULER_INVALID_ACCOUNT',
    140: 'ERROR_SCHEDULER_NODE_FAILURE',
    150: 'STOPPED_BY_MONITOR',
    160: 'ERROR_STASHING_FAILED',
    301: 'ERROR_SUB_PROCESS_EXCEPTED',
    302: 'ERROR_SUB_PROCESS_KILLED',
    401: 'ERROR_MAXIMUM_ITERATIONS_EXCEEDED',
    402: 'ERROR_UNHANDLED_FAILURE',
}

_DEFINITIONS = (
    # 200-299: input refused.
    ExitCodeDefinition(
        201,
        'ERROR_NO_FRAME_PASSED_SCREENING',
        'no frame passed the checks before submission (overlapping atoms): no DFT ran',
        'fix or drop the frames named in the message',
        invalidates_cache=False,
    ),
    ExitCodeDefinition(
        210,
        'ERROR_INPUT_REFUSED',
        'the program refused its input on the compute node',
        'the message names the key; fix it (the validators should have caught it: please report)',
    ),
    ExitCodeDefinition(
        211,
        'ERROR_UNKNOWN_SPECIES',
        'the frames hold species the committee was not trained on',
        'train on data with those species, or drop the frames',
    ),
    ExitCodeDefinition(
        212,
        'ERROR_READING_FRAMES',
        'the program could not read the frames it was given',
        'check the dataset: `verdi node repo cat` its file and read it with ASE',
    ),
    ExitCodeDefinition(
        220,
        'ERROR_TEACHER_UNAVAILABLE',
        'the teacher calculator could not be built (package missing, bad parameters)',
        'install the teacher package in the environment of the code, or fix its parameters',
    ),
    # 300-399: critical.
    ExitCodeDefinition(
        303,
        'ERROR_OUTPUT_FILES_MISSING',
        'a required output file was not written or not retrieved: the program did not run or crashed',
        "read the job's stderr (`verdi calcjob outputcat <pk> <file>`); check the code and its environment",
    ),
    ExitCodeDefinition(
        310,
        'ERROR_OUTPUT_FILES_UNREADABLE',
        'an output file was written but could not be read or parsed',
        'look at the file (`verdi calcjob outputcat`); a full disk or a killed job truncates files',
    ),
    ExitCodeDefinition(
        350,
        'ERROR_TRAINING_FAILED',
        'nequip-train stopped with an error',
        'read nequip_train.err; the message quotes the error',
    ),
    ExitCodeDefinition(
        351,
        'ERROR_COMPILATION_FAILED',
        'nequip-compile did not write the compiled model',
        'read nequip_compile.out; compile on the machine type that will run the model',
    ),
    ExitCodeDefinition(
        352,
        'ERROR_NO_VALIDATION_METRICS',
        'no epoch was validated with a finite loss, so there is no best model',
        'lower the learning rate or check the training data for outliers',
    ),
    ExitCodeDefinition(
        353,
        'ERROR_EVALUATION_FAILED',
        'mlipgen-evaluate stopped with an error',
        'read the message and the job stderr',
    ),
    ExitCodeDefinition(
        354,
        'ERROR_METRICS_FAILED',
        'the errors against the labels could not be computed',
        'check that the frames carry energies and forces of the same size as the predictions',
    ),
    ExitCodeDefinition(
        360,
        'ERROR_NO_CHECKPOINT_TO_RESUME',
        'the training ran out of wall time before writing a checkpoint',
        'give the training more wall time (`metadata.options.max_wallclock_seconds`)',
        invalidates_cache=False,
    ),
    ExitCodeDefinition(
        361,
        'ERROR_BATCH_SIZE_AT_MINIMUM',
        'the training ran out of memory with a batch size of one frame',
        'run on a node or GPU with more memory, or use a smaller model',
        invalidates_cache=False,
    ),
    # 400-499: CalcJobs: errors found while parsing; what could be parsed is attached.
    ExitCodeDefinition(
        400,
        'ERROR_OUT_OF_WALLTIME',
        'the job ran out of wall time; the last checkpoint is attached',
        'none inside a work chain (it restarts from the checkpoint); alone, restart it or give more time',
    ),
    ExitCodeDefinition(
        403,
        'ERROR_INCOMPLETE',
        'only some exploration conditions finished (wall time?); their frames and statistics are attached',
        'none inside a work chain (the finished conditions are kept); give more wall time or fewer steps',
    ),
    ExitCodeDefinition(
        404,
        'ERROR_NO_FRAMES',
        'no frame was sampled in any condition',
        'check `steps`, `stride` and `write_frames` of the exploration conditions',
    ),
    ExitCodeDefinition(
        410,
        'ERROR_NON_FINITE_LOSS',
        'the training loss became NaN or infinite',
        'none inside a work chain (it restarts with a lower learning rate); alone, lower the learning rate',
    ),
    ExitCodeDefinition(
        420,
        'ERROR_OUT_OF_MEMORY',
        'the training ran out of memory',
        'none inside a work chain (it restarts with a smaller batch); alone, lower the batch size',
    ),
    # 440-499: work chains: sub-processes that failed (clear of BaseRestartWorkChain's 401 and 402).
    ExitCodeDefinition(
        440,
        'ERROR_ALL_JOBS_FAILED',
        'every exploration job failed',
        "the message gives each job's pk and exit status: look those up",
        invalidates_cache=False,
    ),
    ExitCodeDefinition(
        441,
        'ERROR_ALL_MD_FAILED',
        'every classical MD run failed',
        "the message gives each run's reason; check the potential and the temperatures",
        invalidates_cache=False,
    ),
    ExitCodeDefinition(
        442,
        'ERROR_ALL_FRAMES_FAILED',
        'every frame failed to label or was quarantined by a quality gate',
        'see the `failures` output: the labeller error or the gate of each frame',
        invalidates_cache=False,
    ),
    ExitCodeDefinition(
        443,
        'ERROR_TOO_FEW_MEMBERS',
        'fewer committee members finished than `min_members`',
        "look up the failed members' exit codes (400-420, 350-361)",
        invalidates_cache=False,
    ),
    ExitCodeDefinition(
        450,
        'ERROR_SUB_PROCESS_FAILED_MD',
        'the LAMMPS MD failed',
        "look up the LAMMPS calculation's exit code and output",
        invalidates_cache=False,
    ),
    ExitCodeDefinition(
        451,
        'ERROR_SUB_PROCESS_FAILED_EVALUATION',
        'the committee evaluation failed',
        "look up the evaluation's exit code (210-212, 303, 310, 353, 354)",
        invalidates_cache=False,
    ),
    ExitCodeDefinition(
        452,
        'ERROR_SUB_PROCESS_FAILED_MODEL_RUN',
        'a model run of the benchmark (test-set predictions or NVE) failed',
        "look up the benchmark job's exit code (210, 303, 310)",
        invalidates_cache=False,
    ),
    ExitCodeDefinition(
        453,
        'ERROR_SUB_PROCESS_FAILED_DFT',
        'a DFT reference of the benchmark (EOS or phonons) failed',
        "look up the labelling's exit code (201, 442) and its `failures`",
        invalidates_cache=False,
    ),
    ExitCodeDefinition(
        460,
        'ERROR_SUB_PROCESS_FAILED_INITIAL_LABELLING',
        'the initial set could not be labelled',
        "look up the labelling's exit code (201, 442) and its `failures`",
        invalidates_cache=False,
    ),
    ExitCodeDefinition(
        461,
        'ERROR_SUB_PROCESS_FAILED_TRAINING',
        'committee training failed in an iteration; the datasets so far are returned',
        "look up the training's exit code (443); continue the loop from its outputs once fixed",
        invalidates_cache=False,
    ),
    ExitCodeDefinition(
        462,
        'ERROR_SUB_PROCESS_FAILED_EXPLORATION',
        'exploration failed in an iteration; the datasets so far are returned',
        "look up the exploration's exit code (440); continue the loop from its outputs once fixed",
        invalidates_cache=False,
    ),
    ExitCodeDefinition(
        463,
        'ERROR_SUB_PROCESS_FAILED_CLASSICAL_SAMPLING',
        'classical MD of the seeds failed',
        "look up the classical sampling's exit code (441)",
        invalidates_cache=False,
    ),
    ExitCodeDefinition(
        470,
        'ERROR_TEST_SET_OVERLAPS_TRAINING',
        'the given test set shares frames with the labelled initial set',
        'give a test set of frames that are not in the training data',
        invalidates_cache=False,
    ),
)

#: The package's own exit codes, by label.
SCHEME: dict[str, ExitCodeDefinition] = {definition.label: definition for definition in _DEFINITIONS}


def declare(spec, label: str, message: str) -> None:
    """Declare the exit code ``label`` of the scheme on a process ``spec``, with the process's own message."""
    code = SCHEME[label]
    spec.exit_code(code.status, code.label, message=message, invalidates_cache=code.invalidates_cache)
