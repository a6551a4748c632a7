"""Contact channels as plugins: the hook, the typed values, the built-ins, a third party's channel.

A third-party channel is tested as a user would install one: a real module
and a ``*.dist-info`` with an ``[instrument]`` entry point in a folder on
sys.path, found by ``importlib.metadata`` like a pip install.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from instrument import hookimpl
from instrument.plugin_types import (
    ChannelSetupError,
    ContactChannel,
    OutgoingMessage,
    Receipt,
)
from instrument.plugins import (
    DISABLE_ENV,
    STRICT_ENV,
    DuplicateNameError,
    PluginFacade,
    get_plugin_manager,
)

CHANNEL_VARIABLES = (
    "INSTRUMENT_SMTP_HOST",
    "INSTRUMENT_SMTP_FROM",
    "INSTRUMENT_TWILIO_ACCOUNT_SID",
    "INSTRUMENT_TWILIO_AUTH_TOKEN",
    "INSTRUMENT_SMS_FROM",
    "INSTRUMENT_SMS_MESSAGING_SERVICE_SID",
    "INSTRUMENT_LETTERS_DIR",
    "INSTRUMENT_CHANNEL_TEMPLATES",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own settings must not change what these tests see."""
    for name in (DISABLE_ENV, STRICT_ENV, *CHANNEL_VARIABLES):
        monkeypatch.delenv(name, raising=False)


def message(**changes: object) -> OutgoingMessage:
    fields: dict[str, object] = dict(
        channel="email",
        to="ann@example.org",
        template="invitation",
        language="en",
        idempotency_key="contact-1",
        personal_link="https://survey.example.ac.uk/s/abc",
        unsubscribe_link="https://survey.example.ac.uk/u/abc",
    )
    fields.update(changes)
    return OutgoingMessage(**fields)  # type: ignore[arg-type]


class PigeonPlugin:
    """A third party's channel, registered as a plugin object."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    def send(self, msg: OutgoingMessage) -> Receipt:
        self.sent.append(msg)
        return Receipt("pigeon", "sent", provider_id=f"loft-{len(self.sent)}")

    @hookimpl
    def register_contact_channels(self) -> list[ContactChannel]:
        return [
            ContactChannel(name="pigeon", label="Carrier pigeon", needs="address", send=self.send)
        ]


def test_hook_register_contact_channels() -> None:
    pm = get_plugin_manager(load_entrypoints=False, strict=True)
    pigeon = PigeonPlugin()
    pm.register(pigeon, name="pigeon")
    channels = PluginFacade(pm).contact_channels()

    assert set(channels) == {"email", "sms", "letter", "pigeon"}
    assert channels.owner("pigeon") == "pigeon"
    assert {channels.owner(name) for name in ("email", "sms", "letter")} == {"channels"}
    receipt = channels["pigeon"].send(message(channel="pigeon", to="1 High Street\nCardiff"))
    assert receipt == Receipt("pigeon", "sent", provider_id="loft-1")
    assert pigeon.sent[0].to == "1 High Street\nCardiff"


def test_built_in_channels_say_what_each_needs() -> None:
    channels = PluginFacade(
        get_plugin_manager(load_entrypoints=False, strict=True)
    ).contact_channels()
    assert {name: channels[name].needs for name in channels} == {
        "email": "email",
        "sms": "phone",
        "letter": "address",
    }
    assert channels["email"].templates == {"invitation", "reminder"}
    assert channels["sms"].languages == {"en", "cy"}
    assert channels["sms"].requires == ("twilio",)
    assert channels["sms"].missing_requirements() == ()


def test_unconfigured_built_ins_say_which_variables_to_set() -> None:
    channels = PluginFacade(
        get_plugin_manager(load_entrypoints=False, strict=True)
    ).contact_channels()
    assert "INSTRUMENT_SMTP_HOST and INSTRUMENT_SMTP_FROM" in (channels["email"].check() or "")
    assert "INSTRUMENT_TWILIO_ACCOUNT_SID" in (channels["sms"].check() or "")
    assert "INSTRUMENT_LETTERS_DIR" in (channels["letter"].check() or "")
    with pytest.raises(ChannelSetupError, match="INSTRUMENT_SMTP_HOST"):
        channels["email"].send(message())


def test_built_ins_read_their_settings_on_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Building the registry reads nothing, so setting the variable after is enough.
    channels = PluginFacade(
        get_plugin_manager(load_entrypoints=False, strict=True)
    ).contact_channels()
    monkeypatch.setenv("INSTRUMENT_LETTERS_DIR", str(tmp_path))
    assert channels["letter"].check() is None
    receipt = channels["letter"].send(message(channel="letter", to="Flat 2\n1 Stryd Fawr\nBangor"))
    assert receipt.status == "sent"
    assert len(list(tmp_path.glob("letters-*.csv"))) == 1


def test_a_third_party_channel_installed_with_an_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "instrument_pigeon_post"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from instrument import hookimpl
            from instrument.plugin_types import ContactChannel, Receipt


            def send(message):
                return Receipt("pigeon", "queued", provider_id="loft-" + message.idempotency_key)


            @hookimpl
            def register_contact_channels():
                return [ContactChannel(name="pigeon", label="Pigeon post", needs="address", send=send)]
            """
        ),
        encoding="utf-8",
    )
    info = tmp_path / "instrument_pigeon_post-0.3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: instrument-pigeon-post\nVersion: 0.3.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[instrument]\npigeon = instrument_pigeon_post\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        facade = PluginFacade(get_plugin_manager(strict=True))
        channels = facade.contact_channels()
        assert channels.owner("pigeon") == "pigeon"
        assert channels["pigeon"].send(message(channel="pigeon", to="Tŷ Newydd")).status == "queued"
        info_by_name = {plugin.name: plugin for plugin in facade.plugin_info()}
        assert info_by_name["pigeon"].distribution == "instrument-pigeon-post"
        assert "register_contact_channels" in info_by_name["pigeon"].hooks
        assert "register_contact_channels" in info_by_name["channels"].hooks

        # Disabled by name, it is not even imported, and the built-ins stay.
        sys.modules.pop("instrument_pigeon_post", None)
        without = PluginFacade(get_plugin_manager(strict=True, disabled=["pigeon"]))
        assert set(without.contact_channels()) == {"email", "sms", "letter"}
        assert "instrument_pigeon_post" not in sys.modules
    finally:
        sys.modules.pop("instrument_pigeon_post", None)


def test_a_channel_name_taken_twice_names_both_plugins() -> None:
    class Impostor:
        @hookimpl
        def register_contact_channels(self) -> list[ContactChannel]:
            return [
                ContactChannel(
                    name="email", label="Another email", needs="email", send=PigeonPlugin().send
                )
            ]

    pm = get_plugin_manager(load_entrypoints=False, strict=True)
    pm.register(Impostor(), name="impostor")
    with pytest.raises(
        DuplicateNameError,
        match="'impostor' and 'channels' both register the contact channel 'email'",
    ):
        PluginFacade(pm).contact_channels()


# -- the typed values -----------------------------------------------------------


def test_contact_channel_refuses_what_it_cannot_use() -> None:
    send = PigeonPlugin().send
    with pytest.raises(ValueError, match="ContactChannel.name"):
        ContactChannel(name="Pigeon", label="x", needs="address", send=send)
    with pytest.raises(ValueError, match="needs must be one of"):
        ContactChannel(name="pigeon", label="x", needs="fax", send=send)
    with pytest.raises(TypeError, match="send must be callable"):
        ContactChannel(name="pigeon", label="x", needs="address", send="loft")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a string"):
        ContactChannel(name="p", label="x", needs="email", send=send, templates="invitation")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="language tag"):
        ContactChannel(name="p", label="x", needs="email", send=send, languages={"Welsh"})


def test_outgoing_message_checks_its_fields_and_hides_personal_data() -> None:
    msg = message(salutation="Dear Ms Jones", access_code="K7Q2", context={"study": "Panel"})
    shown = repr(msg)
    for secret in ("ann@example.org", "Ms Jones", "K7Q2", "Panel"):
        assert secret not in shown
    with pytest.raises(TypeError):
        msg.context["study"] = "other"  # type: ignore[index]
    with pytest.raises(ValueError, match="idempotency_key"):
        message(idempotency_key="has space")
    with pytest.raises(ValueError, match="language tag"):
        message(language="Cymraeg")
    with pytest.raises(ValueError, match="one line"):
        message(headers={"X-Wave": "3\r\nBcc: everyone@example.org"})
    with pytest.raises(ValueError, match="not a header name"):
        message(headers={"X Wave": "3"})
    with pytest.raises(ValueError, match="address to send to"):
        message(to="  ")


def test_receipt_statuses() -> None:
    assert Receipt("sms", "queued", provider_id="SM1").ok
    failed = Receipt("sms", "failed", error="invalid number", permanent=True)
    assert not failed.ok
    with pytest.raises(ValueError, match="must say why"):
        Receipt("sms", "failed")
    with pytest.raises(ValueError, match="only a failed receipt"):
        Receipt("sms", "sent", error="but why")
    with pytest.raises(ValueError, match="status must be one of"):
        Receipt("sms", "delivered")


def test_messages_are_frozen_values() -> None:
    msg = message()
    with pytest.raises(AttributeError):
        msg.to = "eve@example.org"  # type: ignore[misc]
