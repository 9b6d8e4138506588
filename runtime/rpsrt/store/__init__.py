"""rpsrt.store: reading and writing RefPerSys store directories (STORE_FORMAT.md; see docs/store.md).

`reader.load_store(dir) -> Heap`, `writer.dump_store(heap, dir)`, `core.new_heap() -> Heap`; `jsonfmt` writes
jsoncpp-exact JSON text and `journal` makes a multi-file dump atomic.
"""
