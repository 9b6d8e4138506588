"""rpsrt.model: the object model: OIDs, values, objects and payloads, the heap, the well-known core OIDs."""
