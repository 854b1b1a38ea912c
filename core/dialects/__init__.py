"""Dialects: one module per backend, each a ``Dialect`` subclass of facts and conversions."""
