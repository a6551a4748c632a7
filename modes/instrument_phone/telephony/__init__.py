"""Telephony through Twilio: settings, the REST calls we make, the webhooks Twilio makes.

Kept apart from the case logic (``instrument.fieldwork``) and the store:
these modules only translate between Twilio's HTTP world and the store's
call records, so a second provider would be a sibling package.
"""
