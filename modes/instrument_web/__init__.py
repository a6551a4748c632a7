"""Built-in plugin package instrument_web."""
