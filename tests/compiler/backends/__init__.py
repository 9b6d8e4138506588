"""Tests of rpsc.backends: one folder per backend."""
