"""Tests of the plugin host (rpsrt.plugins) and the `rpsc plugin`/`rpsc config` commands."""
