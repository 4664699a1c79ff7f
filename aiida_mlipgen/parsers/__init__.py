"""parsers of aiida-mlipgen."""
