"""Real plugin modules the plugin-host tests register, as a third party would write them."""
