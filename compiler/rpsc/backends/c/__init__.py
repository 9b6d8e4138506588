"""The C backend: C emission from the typed IR (Jinja2 templates) and the native engine that runs built plugins."""
