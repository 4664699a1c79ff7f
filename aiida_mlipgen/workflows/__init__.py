"""workflows of aiida-mlipgen."""
