"""rpsc.heapcode: how code is stored in the heap: the classes of stored code, encoding an AST into objects, decoding it back.

The one place that knows the representation of modules, functions, declarations and bodies in a store
(docs/code-in-the-heap.md): closures of rpsc's classes, which upstream RefPerSys loads and dumps back; also
the migration of rpsc 0.1.0's instances. Imports the frontend (AST, checker), never the IR or a backend.
"""
