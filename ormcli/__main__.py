"""The ``ormcli`` console script and ``python -m ormcli``: a plain ``ormcli --version`` is
answered here, before typer and the command app are imported (start-up time, issue 18 point
6); every other command line goes to the Typer app (``app.py``).

Callers: the ``ormcli`` script (``pyproject.toml``) and ``python -m ormcli``. Leaves out:
parsing anything but that one flag (``ormcli --db X --version`` is the app's: same answer,
slower).
"""

from __future__ import annotations

import sys


def main(args: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = sys.argv[1:] if args is None else args
    if args == ["--version"]:
        from ormcli import __version__

        sys.stdout.write(f"ormcli {__version__}\n")
        sys.stdout.flush()
        raise SystemExit(0)
    from ormcli.app import main as app_main

    app_main(args)


if __name__ == "__main__":
    main()
