"""rpsc.backends: the three executions of the typed IR (interp, llvm, c) and the engine protocol they share.

No backend imports another; each owns only its code generation and its engine.
"""
