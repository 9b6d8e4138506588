"""The LLVM backend: typed IR -> LLVM IR (`codegen`), MCJIT engine (`jit`), object cache (`cache`), AOT (`aot`),
`rpsc run`'s warm-start index (`runindex` reads it, `runrecord` writes it).

Importing this package does not import llvmlite; its modules do, but for `runindex` (the warm start's).
"""

#: Bump when the generated code or its ABI changes in a way the IR text does not show, and when the IR passes
#: (`rpsc.ir.passes`, run inside `emit_llvm`) change what they make of the same typed IR. Part of every object
#: cache key (`cache.cache_key`) and of `rpsc run`'s warm-start index (`runindex`); here, so that the warm
#: start reads it without importing the cache module.
CODEGEN_VERSION = "rpsc-llvm-5"
