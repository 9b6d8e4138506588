"""Jinja2 templates of the generated C (module, function) and of the generated headers (package data)."""
