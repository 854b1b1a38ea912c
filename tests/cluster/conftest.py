"""Fixtures of the cluster suites: a 3-node Galera cluster and PostgreSQL primary/standby
pairs, started from nothing on loopback ports and stopped by PID (``tests/cluster/servers.py``).

They run when ``ORMCLI_CLUSTER=1`` (``.ci/run`` sets it; ``docs/scale-out.md`` gives the
command) and are skipped otherwise, so that a bare ``pytest`` stays quick. With ``CI=true`` a
cluster that cannot start fails the run instead of skipping it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.cluster.servers import (
    GaleraCluster,
    PostgresPair,
    galera_available,
    postgres_pair_available,
)


def _gate(reason: str | None) -> None:
    if os.environ.get("ORMCLI_CLUSTER") != "1":
        pytest.skip("cluster suites run with ORMCLI_CLUSTER=1 (they start their own servers)")
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and the cluster suite cannot run: {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def galera() -> Iterator[GaleraCluster]:
    """Three Synced Galera nodes (3321-3323); the last test of the module may kill one."""
    _gate(galera_available())
    cluster = GaleraCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def pg_pair() -> Iterator[PostgresPair]:
    """A PostgreSQL primary (5452) streaming to a hot standby (5453), asynchronously."""
    _gate(postgres_pair_available())
    pair = PostgresPair(port=5452)
    try:
        pair.start()
        yield pair
    finally:
        pair.stop()


@pytest.fixture
def pg_sync_pair() -> Iterator[PostgresPair]:
    """A fresh pair with synchronous replication (5462/5463), for a test that kills it."""
    _gate(postgres_pair_available())
    pair = PostgresPair(port=5462, synchronous=True)
    try:
        pair.start()
        yield pair
    finally:
        pair.stop()
