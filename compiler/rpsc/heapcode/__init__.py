"""rpsc.heapcode: how code is stored in the heap: the classes of stored code, encoding an AST into objects, decoding it back.

The one place that knows the representation of modules, functions, declarations and bodies in a store
(docs/code-in-the-heap.md). Imports the frontend's AST, never the IR or a backend.
"""
