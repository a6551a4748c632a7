"""A panel wave at run time: opening it from its file, and the fieldwork worker.

Above the store, the pure panel rules (:mod:`instrument.panel`) and the plugin
types (channels), below the commands and the server that start them.
"""
