"""Tests of the compiler package rpsc (compiler/rpsc/): one folder per subpackage."""
