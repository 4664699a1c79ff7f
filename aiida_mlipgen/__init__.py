"""aiida-mlipgen: active-learning training sets for machine-learning interatomic potentials, on AiiDA."""

__version__ = '0.1.0'
