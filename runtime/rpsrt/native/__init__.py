"""C helpers of the runtime built on first use (heapfast.c: the fast path of the host heap API)."""
