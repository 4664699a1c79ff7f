"""setup of aiida-mlipgen."""
