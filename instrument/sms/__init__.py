"""Two-way SMS interviews: the pure part (what a text says, how a reply is read, the
conversation's flow, ``instrument check``'s advice, and how many parts a text is sent in).

No I/O, no clock, no web or telephony library: the phone mode's SMS webhooks and
the SMS contact channel both build on it.
"""
