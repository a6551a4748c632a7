"""A plugin that fails on import, as one with a missing dependency would."""

raise ImportError("broken_plugin needs a module that is not installed")
