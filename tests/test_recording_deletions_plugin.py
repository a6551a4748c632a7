"""The ``register_recording_providers`` hook: providers that hold call recordings and delete them.

A third party's provider registered as a plugin object, the descriptors' own checks, and the
built-in phone plugin's ``twilio`` provider reached through the plugin host (never imported by
the core), deleting through the real twilio SDK into tests/twilio_fake.py.
"""

from __future__ import annotations

import pytest

from instrument import hookimpl
from instrument.plugin_types import RecordingDeletion, RecordingProvider
from instrument.plugins import DuplicateNameError, PluginFacade, get_plugin_manager


class VaultPlugin:
    """A third party's recording store: deletes what it holds, says "gone" for the rest."""

    def __init__(self) -> None:
        self.held = {"RE" + "1" * 32}

    def delete(self, recording_sid: str) -> RecordingDeletion:
        if recording_sid in self.held:
            self.held.discard(recording_sid)
            return RecordingDeletion("deleted")
        return RecordingDeletion("gone")

    @hookimpl
    def register_recording_providers(self) -> list[RecordingProvider]:
        return [RecordingProvider(name="vault", label="Recording vault", delete=self.delete)]


def test_hook_register_recording_providers() -> None:
    pm = get_plugin_manager(load_entrypoints=False, strict=True)
    vault = VaultPlugin()
    pm.register(vault, name="vault")
    providers = PluginFacade(pm).recording_providers()

    assert "vault" in providers
    assert providers.owner("vault") == "vault"
    assert providers["vault"].delete("RE" + "1" * 32) == RecordingDeletion("deleted")
    assert providers["vault"].delete("RE" + "1" * 32) == RecordingDeletion("gone")
    assert vault.held == set()


def test_two_plugins_cannot_claim_one_provider_name() -> None:
    pm = get_plugin_manager(load_entrypoints=False, strict=True)
    pm.register(VaultPlugin(), name="vault")
    pm.register(VaultPlugin(), name="vault_again")
    with pytest.raises(DuplicateNameError, match="recording provider 'vault'"):
        PluginFacade(pm).recording_providers()


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        ("removed", None, "must be one of"),
        ("failed", None, "says why"),
        ("deleted", "a reason", "says why"),
    ],
)
def test_a_deletion_says_what_happened_and_only_a_failure_says_why(
    status: str, error: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RecordingDeletion(status, error)
    assert not RecordingDeletion("failed", "Twilio error 20500 (HTTP 500)").done
    assert RecordingDeletion("gone").done


def test_a_provider_is_checked_when_built() -> None:
    with pytest.raises(ValueError, match="RecordingProvider.name"):
        RecordingProvider(
            name="Twilio", label="Twilio", delete=lambda _sid: RecordingDeletion("gone")
        )
    with pytest.raises(TypeError, match="RecordingProvider.delete must be callable"):
        RecordingProvider(name="twilio", label="Twilio", delete="twilio")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tuple of module names"):
        RecordingProvider(
            name="twilio", label="Twilio", delete=lambda _s: RecordingDeletion("gone"),
            requires="twilio",  # type: ignore[arg-type]
        )  # fmt: skip
