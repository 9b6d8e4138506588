"""The LLVM backend: typed IR -> LLVM IR (`codegen`), MCJIT engine (`jit`), object cache (`cache`), AOT (`aot`).

Importing this package does not import llvmlite; its modules do.
"""
