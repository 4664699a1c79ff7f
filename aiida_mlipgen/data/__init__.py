"""data of aiida-mlipgen."""
