"""The panel: members, waves, contact plans and the rules a wave's fieldwork runs by.

Like :mod:`instrument.fieldwork`, what lives here is pure: plain data in, plain
data out, the time passed in. The store keeps the members, cases and messages;
the fieldwork worker asks these rules what is due and carries it out.
"""
