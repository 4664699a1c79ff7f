"""Sphinx configuration of the aiida-mlipgen documentation (MyST Markdown pages)."""

project = 'aiida-mlipgen'
author = 'The aiida-mlipgen developers'
extensions = ['myst_parser', 'aiida.sphinxext']
source_suffix = {'.md': 'markdown'}
myst_enable_extensions = ['colon_fence']
exclude_patterns = ['_build']
html_theme = 'sphinx_book_theme'
