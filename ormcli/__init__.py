"""The ormcli terminal tool.

``__version__`` is the one place the version is written (``pyproject.toml`` reads it), so
``ormcli --version`` needs neither typer nor ``importlib.metadata`` (``__main__.py``).
"""

__version__ = "0.1.0"
