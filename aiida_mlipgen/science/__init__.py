"""The science of active learning in plain numpy/ASE: no AiiDA import anywhere in this package."""
