"""calculations of aiida-mlipgen."""
