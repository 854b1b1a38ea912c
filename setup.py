"""The one part of the build that pyproject.toml cannot say: the optional C accelerator.

``core._hydrate`` (``core/_hydrate.c``) makes an untracked stream's objects in C. It is
optional: where it cannot be compiled (no compiler, no Python headers) the install goes on
without it and ``core.codec`` runs its generated Python code, which gives the same objects.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("core._hydrate", ["core/_hydrate.c"], optional=True)])
