"""The one part of the build that pyproject.toml cannot say: the optional C accelerators.

``core._hydrate`` (``core/_hydrate.c``) makes an untracked stream's objects in C;
``core._moves`` (``core/_moves.c``) does the relation move's hot path (a loaded collection's
``append`` moving a child between owners, and the commit's pass over such moves);
``core._track`` (``core/_track.c``) an entity's tracked assignment (the ``__setattr__`` hook's
common case). All are optional: where they cannot be compiled (no compiler, no Python headers)
the install goes on without them and ``core.codec`` / ``core.collection`` / ``core.entity`` run
their Python code, which gives the same results.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("core._hydrate", ["core/_hydrate.c"], optional=True),
        Extension("core._moves", ["core/_moves.c"], optional=True),
        Extension("core._track", ["core/_track.c"], optional=True),
    ]
)
