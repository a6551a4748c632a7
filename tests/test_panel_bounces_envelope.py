"""The email channel's envelope sender: where servers send bounces (``INSTRUMENT_SMTP_BOUNCE_ADDRESS``).

Real SMTP (aiosmtpd on 127.0.0.1, the email channel's own test server): what
the server is told in ``MAIL FROM`` is the bounce mailbox when one is set, the
From address otherwise, and the message's own From header is the same either way.
"""

from __future__ import annotations

import pytest

from instrument.plugin_types import ChannelSetupError
from instrument_channels.email import BOUNCE_ENV, EmailChannel, SmtpSettings
from tests.test_channels_email import (
    LoopbackController,
    Mailbox,
    message,
    settings_for,
    smtp_server,
)

__all__ = ["smtp_server"]  # the fixture, imported to be found


@pytest.mark.parametrize(
    ("bounce_address", "envelope"),
    [(None, "panel@example.ac.uk"), ("bounces+panel@example.ac.uk", "bounces+panel@example.ac.uk")],
)
def test_the_envelope_sender_is_the_bounce_address_when_set(
    smtp_server: tuple[LoopbackController, Mailbox], bounce_address: str | None, envelope: str
) -> None:
    controller, mailbox = smtp_server
    channel = EmailChannel(settings_for(controller, bounce_address=bounce_address))
    try:
        assert channel.send(message()).ok
    finally:
        channel.close()
    (received,) = mailbox.received
    assert received.mail_from == envelope
    assert received.message["From"] == "Panel Team <panel@example.ac.uk>"


def test_the_bounce_address_comes_from_the_environment_and_is_checked() -> None:
    base = {"INSTRUMENT_SMTP_HOST": "h", "INSTRUMENT_SMTP_FROM": "Panel <panel@example.ac.uk>"}
    settings = SmtpSettings.from_env({**base, BOUNCE_ENV: " bounces@example.ac.uk "})
    assert settings.bounce_address == "bounces@example.ac.uk"
    assert SmtpSettings.from_env(base).bounce_address is None
    with pytest.raises(ChannelSetupError) as caught:
        SmtpSettings.from_env({**base, BOUNCE_ENV: "bounces"})
    assert str(caught.value).startswith("INSTRUMENT_SMTP_BOUNCE_ADDRESS must be an email address")
