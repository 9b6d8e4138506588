"""The C backend: C emission from the typed IR (Jinja2 templates), Ninja builds of plugins, the native engine."""
