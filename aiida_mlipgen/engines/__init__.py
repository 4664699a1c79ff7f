"""engines of aiida-mlipgen."""
