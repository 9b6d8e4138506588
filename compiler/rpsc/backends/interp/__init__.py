"""The reference interpreter: runs the typed IR directly; the semantic oracle of the other backends."""
