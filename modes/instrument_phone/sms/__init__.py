"""Two-way SMS interviews through Twilio: one question per text, replies read as answers."""
