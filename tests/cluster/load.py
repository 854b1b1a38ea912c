"""A write load for failover tests: sessions committing one row each, every outcome recorded.

Each commit adds a ``Ticket`` with a token of its own. After the load, ``count_tokens``
reads the table through a raw driver connection, and ``check`` holds the contract: every
acknowledged commit is there exactly once, no token is there twice, a commit that failed
before COMMIT is absent, and one whose outcome is unknown is there at most once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from core import (
    AutoIncrement,
    CommitOutcomeUnknownError,
    Database,
    OrmError,
    PrimaryKey,
    entity,
)


@entity.name("ticket")
class Ticket:
    id: Annotated[int, PrimaryKey, AutoIncrement] = 0
    token: str = ""  # deliberately not unique: a doubled commit would show


@dataclass
class LoadResult:
    acked: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: monotonic time of each acknowledged commit (to measure the gap around a kill)
    acked_at: list[float] = field(default_factory=list)

    def gap_after(self, moment: float) -> float:
        """Seconds from ``moment`` to the first commit acknowledged after it."""
        after = [t for t in self.acked_at if t > moment]
        return (min(after) - moment) if after else float("inf")


def write_load(db: Database, stop: threading.Event, prefix: str) -> LoadResult:
    """Commit one ticket per session until ``stop`` is set."""
    result = LoadResult()
    for i in range(1_000_000):
        if stop.is_set():
            break
        token = f"{prefix}-{i}"
        session = db.create_session()
        session.add(Ticket(token=token))
        try:
            session.commit()
        except CommitOutcomeUnknownError as exc:
            result.unknown.append(token)
            result.errors.append(type(exc).__name__)
        except OrmError as exc:
            result.failed.append(token)
            result.errors.append(type(exc).__name__)
            time.sleep(0.05)
        else:
            result.acked.append(token)
            result.acked_at.append(time.monotonic())
        finally:
            session.close()
    return result


def check(result: LoadResult, counts: dict[str, int]) -> None:
    """The failover contract over one load (see the module docstring)."""
    doubled = {t: n for t, n in counts.items() if n > 1}
    assert not doubled, f"tokens committed twice: {sorted(doubled)[:5]}"
    missing = [t for t in result.acked if counts.get(t, 0) != 1]
    assert not missing, f"{len(missing)} acknowledged commits are missing: {missing[:5]}"
    present_failed = [t for t in result.failed if counts.get(t, 0)]
    assert not present_failed, f"commits reported failed are present: {present_failed[:5]}"


def count_tokens(rows: list[Any]) -> dict[str, int]:
    return {str(token): int(n) for token, n in rows}
