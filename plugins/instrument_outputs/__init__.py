"""Built-in plugin package instrument_outputs."""
