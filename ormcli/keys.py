"""Key bindings of the REPL: Enter runs the command once it is complete.

Callers: ``repl.py`` builds the prompt with :func:`key_bindings`. Enter accepts the buffer when
``statements.is_complete`` says every quote and bracket is closed and no line ends in ``\\``;
otherwise it inserts a newline (multi-line entry). Alt-Enter (Esc, Enter) always inserts one.
Everything else is prompt-toolkit's emacs (default) or vi bindings.
"""

from __future__ import annotations

from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

from ormcli.statements import is_complete


def key_bindings() -> KeyBindings:
    """Enter runs a complete command, else continues it on a new line."""
    bindings = KeyBindings()

    @bindings.add("enter")
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if is_complete(buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    @bindings.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return bindings
