"""Tests of the ormcli command app, REPL, command language and rendering."""
