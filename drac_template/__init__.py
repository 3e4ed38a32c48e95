"""The template's own Python: cluster facts, validation rules and derived job values.

Everything here is plain, importable Python. The Jinja extension (``local_extensions.py``),
the hooks and the tests all use it, so a fact or a rule lives in exactly one place.
"""
