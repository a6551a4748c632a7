"""Automated calls (IVR) in the telephone mode: the core's spoken plan compiled to TwiML."""
