"""``LammpsNequipWorkChain``: MD in LAMMPS with one deployed model, then committee deviations of the dumped frames.

LAMMPS runs through aiida-lammps' raw calculation (``lammps.raw``): its full calculation refuses
``pair_style nequip`` / ``allegro`` (aiida-lammps issue 111). The dump stays in the MD job's remote folder
and ``mlipgen.evaluate`` reads it there, on the same computer, so a long trajectory never travels.
"""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain
from aiida.plugins import CalculationFactory

from aiida_mlipgen.calculations.evaluate import CommitteeEvaluateCalculation, committee_species
from aiida_mlipgen.calculations.lammps_nequip_inputs import (
    DUMP_FILE,
    PAIR_STYLES,
    STRUCTURE_FILE,
    MDSettings,
    check_deployed_model,
    check_md_settings,
    deployed_model_filename,
    lammps_nequip_inputs,
)
from aiida_mlipgen.science.exit_codes import declare
from aiida_mlipgen.workflows.input_checks import check_structures

LammpsRawCalculation = CalculationFactory('lammps.raw')

#: Ports of the evaluation that the work chain fills in itself.
_EVALUATION_FRAME_PORTS = ('frames', 'dump', 'parent_folder', 'dump_filename', 'type_symbols')
#: Ports holding the MD settings, by the name of the ``MDSettings`` field they fill.
_SETTINGS_PORTS = (
    'temperature',
    'num_steps',
    'stride',
    'timestep',
    'thermostat_damping',
    'pressure',
    'barostat_damping',
    'barostat_coupling',
    'seed',
    'dump_forces',
)


def md_settings(inputs) -> MDSettings:
    """The ``MDSettings`` of the work chain's inputs (ports left out take the dataclass defaults)."""
    values = {name: inputs[name].value for name in _SETTINGS_PORTS if name in inputs}
    return MDSettings(**values)


def _check_structure(structure: orm.StructureData, models) -> str | None:
    if not all(structure.pbc):
        return 'the structure is not periodic in all three directions: the MD is written for bulk cells.'
    elements = sorted({kind.symbol for kind in structure.kinds})
    if models:
        unknown = sorted(set(elements) - set(committee_species(models)))
        if unknown:
            return (
                f'the structure has species {unknown} that the committee does not know '
                f'(it knows {committee_species(models)}).'
            )
    return None


def validate_inputs(inputs, _) -> str | None:
    """Refuse, before any job, MD settings LAMMPS would refuse, a model LAMMPS cannot load, unknown species."""
    if {'temperature', 'num_steps', 'stride'} <= set(inputs):
        message = check_md_settings(md_settings(inputs))
        if message:
            return message
    if 'pair_style' in inputs and inputs['pair_style'].value not in PAIR_STYLES:
        return f'`pair_style` must be one of {", ".join(PAIR_STYLES)}, got `{inputs["pair_style"].value}`.'
    if 'deployed_model' in inputs:
        message = check_deployed_model(inputs['deployed_model'].filename)
        if message:
            return message
    evaluate = inputs.get('evaluate', {})
    if 'structure' in inputs:
        message = _check_structure(inputs['structure'], evaluate.get('models', {})) or check_structures(
            {'structure': inputs['structure']}, 'structure'
        )
        if message:
            return message
    md_code, evaluate_code = inputs.get('lammps', {}).get('code'), evaluate.get('code')
    if md_code is not None and evaluate_code is not None and md_code.computer.uuid != evaluate_code.computer.uuid:
        return (
            f'LAMMPS runs on `{md_code.computer.label}` but the evaluation code on `{evaluate_code.computer.label}`: '
            'the dump is evaluated where it lies, so both codes must be on the same computer.'
        )
    return None


class LammpsNequipWorkChain(WorkChain):
    """One LAMMPS MD run with a deployed NequIP/Allegro model, then committee deviations of its frames.

    The calcfunction ``lammps_nequip_inputs`` writes the input script and structure data file; LAMMPS
    (``lammps.raw``) dumps positions every ``stride`` steps; ``CommitteeEvaluateCalculation`` evaluates the
    dump in the MD's remote folder with the whole committee.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(
            LammpsRawCalculation,
            namespace='lammps',
            exclude=('script', 'files', 'filenames'),
            namespace_options={
                'help': 'The LAMMPS run: a `lammps.raw` code whose LAMMPS has pair_nequip_allegro, options.'
            },
        )
        spec.expose_inputs(
            CommitteeEvaluateCalculation,
            namespace='evaluate',
            exclude=_EVALUATION_FRAME_PORTS,
            namespace_options={
                'help': 'The committee evaluation of the dumped frames: models, code (same computer as LAMMPS), '
                'device, batch size, options.'
            },
        )
        # pair_nequip runs on one MPI rank; pair_allegro users raise this for MPI runs.
        spec.inputs['lammps']['metadata']['options']['resources'].default = {
            'num_machines': 1,
            'num_mpiprocs_per_machine': 1,
        }
        spec.input('structure', valid_type=orm.StructureData, help='The periodic structure to start from.')
        spec.input(
            'deployed_model',
            valid_type=orm.SinglefileData,
            help='The model LAMMPS runs: a `nequip-compile` output (`.nequip.pt2` AOTInductor, compiled for the '
            'target `pair_nequip` or `pair_allegro` on the machine kind that runs LAMMPS; or `.nequip.pth`).',
        )
        spec.input(
            'pair_style',
            valid_type=orm.Str,
            default=lambda: orm.Str('nequip'),
            help='`nequip` (message passing, one MPI rank, newton off) or `allegro` (local, MPI, newton on).',
        )
        spec.input('temperature', valid_type=orm.Float, help='Thermostat target and initial temperature (K).')
        spec.input(
            'pressure',
            valid_type=orm.Float,
            required=False,
            help='Barostat target (GPa): NPT when given, NVT otherwise.',
        )
        spec.input('num_steps', valid_type=orm.Int, help='MD steps.')
        spec.input('stride', valid_type=orm.Int, help='Positions are dumped every `stride` steps (and at step 0).')
        spec.input('timestep', valid_type=orm.Float, default=lambda: orm.Float(0.001), help='MD timestep (ps).')
        spec.input(
            'thermostat_damping',
            valid_type=orm.Float,
            default=lambda: orm.Float(0.1),
            help='Nose-Hoover thermostat damping time (ps); about 100 timesteps is usual.',
        )
        spec.input(
            'barostat_damping',
            valid_type=orm.Float,
            default=lambda: orm.Float(1.0),
            help='Barostat damping time (ps) for NPT; about 1000 timesteps is usual.',
        )
        spec.input(
            'barostat_coupling',
            valid_type=orm.Str,
            default=lambda: orm.Str('iso'),
            help='How the cell follows the pressure in NPT: `iso`, `aniso` or `tri` (`fix npt` keywords).',
        )
        spec.input('seed', valid_type=orm.Int, default=lambda: orm.Int(1), help='Seed of the initial velocities (> 0).')
        spec.input(
            'dump_forces',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(False),
            help="Also dump the deployed model's forces (not used by the evaluation).",
        )
        spec.inputs.validator = validate_inputs

        spec.outline(cls.write_inputs, cls.run_md, cls.inspect_md, cls.run_evaluation, cls.results)
        spec.expose_outputs(CommitteeEvaluateCalculation, include=('frames', 'statistics'))
        spec.output('md_results', valid_type=orm.Dict, help='What aiida-lammps parsed from the LAMMPS log.')
        declare(spec, 'ERROR_SUB_PROCESS_FAILED_MD', 'The LAMMPS MD failed: {message}')
        declare(
            spec, 'ERROR_SUB_PROCESS_FAILED_EVALUATION', 'The committee evaluation of the MD frames failed: {message}'
        )

    def write_inputs(self):
        """Write the script and structure file through the calcfunction, so the run traces to its inputs."""
        names = [name for name in _SETTINGS_PORTS if name in self.inputs]
        self.ctx.md_inputs = lammps_nequip_inputs(
            structure=self.inputs.structure,
            deployed_model=self.inputs.deployed_model,
            pair_style=self.inputs.pair_style,
            **{name: self.inputs[name] for name in names},
        )

    def run_md(self):
        """Run LAMMPS with the script, the structure data file and the compiled model in its job folder."""
        inputs = AttributeDict(self.exposed_inputs(LammpsRawCalculation, namespace='lammps'))
        inputs.script = self.ctx.md_inputs['script']
        inputs.files = {'structure': self.ctx.md_inputs['structure_file'], 'model': self.inputs.deployed_model}
        inputs.filenames = {
            'structure': STRUCTURE_FILE,
            'model': deployed_model_filename(self.inputs.deployed_model.filename),
        }
        inputs.metadata.call_link_label = 'md'
        node = self.submit(LammpsRawCalculation, **inputs)
        self.report(f'submitted LAMMPS MD {node.process_label}<{node.pk}>')
        return ToContext(md=node)

    def inspect_md(self):
        """Stop with the LAMMPS error when the MD failed."""
        node = self.ctx.md
        if not node.is_finished_ok:
            message = node.exit_message or f'process {node.process_state.value}, exit status {node.exit_status}'
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_MD.format(message=' '.join(message.split()))
        return None

    def run_evaluation(self):
        """Evaluate the dump where it lies (symlinked from the MD's remote folder) with the whole committee."""
        inputs = AttributeDict(self.exposed_inputs(CommitteeEvaluateCalculation, namespace='evaluate'))
        inputs.parent_folder = self.ctx.md.outputs.remote_folder
        inputs.dump_filename = orm.Str(DUMP_FILE)
        inputs.type_symbols = self.ctx.md_inputs['type_symbols']
        inputs.metadata.call_link_label = 'evaluate'
        node = self.submit(CommitteeEvaluateCalculation, **inputs)
        self.report(f'submitted committee evaluation {node.process_label}<{node.pk}>')
        return ToContext(evaluation=node)

    def results(self):
        """Attach the evaluated frames, their deviation statistics and the LAMMPS results."""
        node = self.ctx.evaluation
        if not node.is_finished_ok:
            message = node.exit_message or f'process {node.process_state.value}, exit status {node.exit_status}'
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_EVALUATION.format(message=' '.join(message.split()))
        self.out_many(self.exposed_outputs(node, CommitteeEvaluateCalculation))
        self.out('md_results', self.ctx.md.outputs.results)
        statistics = node.outputs.statistics.get_dict()['deviations']['max_force_deviation']
        self.report(
            f'{node.outputs.frames.num_frames} frames; max force deviation {statistics["min"]:.4f} - '
            f'{statistics["max"]:.4f} eV/A'
        )
        return None
