"""Built-in plugin package instrument_console."""
