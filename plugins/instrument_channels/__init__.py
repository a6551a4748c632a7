"""The built-in contact channels: email over SMTP, SMS through Twilio, printed letters.

Each is a plugin of the ``register_contact_channels`` hook (see
:mod:`instrument_channels.plugin`), registered through the same entry-point
group a third party's channel uses. A channel is handed one
:class:`~instrument.plugin_types.OutgoingMessage` with the address already
decrypted by the fieldwork worker, sends it, and returns a
:class:`~instrument.plugin_types.Receipt`; it reads no store and keeps no
copy of the address. ``docs/channels.md`` is the guide.
"""
