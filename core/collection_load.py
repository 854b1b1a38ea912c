"""Lazy loading of one collection: the rows of one owner's collection, in one query.

``load(session, owner, relation)`` returns the items stored for ``owner`` (and for a
many-to-many relation the pivot object of each), identity-mapped in ``session``, ordered by the
target's primary key: one-to-many is a ``SELECT`` of the target filtered on its reference,
many-to-many one ``SELECT`` of the target joined to the pivot (both objects built from each
row). Callers: ``core.session`` (``Session._load_collection``, on first access of a collection
of an object the session tracks). What it leaves out: what memory adds to or takes from the
stored rows (the session), whole results at once (``query.eager``: ``core.loaders``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.expressions import Compare

if TYPE_CHECKING:
    from core.relations import RelationInfo
    from core.session import Session

__all__ = ["load"]


def load(session: Session, owner: Any, rel: RelationInfo) -> tuple[list[Any], list[Any]]:
    """``(items, pivots)`` stored for ``owner``'s collection (``pivots`` empty for
    one-to-many)."""
    from core.query import Query

    db = session.database
    key = session._key_of(owner)
    target = rel.target
    order = tuple(f.name for f in target.primary_key)
    if rel.pivot is None:
        assert rel.reference is not None
        query: Query[Any] = Query(db, target, session)
        return query.filter(Compare(rel.reference.name, "=", key)).order_by(*order).find(), []
    pivot, own, tgt = rel.pivot, rel.pivot_owner, rel.pivot_target
    assert pivot is not None and own is not None and tgt is not None
    db._require_columns(target)
    db._require_columns(pivot)
    dialect = db.dialect
    q = dialect.quote
    columns = [f"t.{q(c)}" for c in target.column_names] + [f"p.{q(c)}" for c in pivot.column_names]
    sql = (
        f"SELECT {', '.join(columns)} FROM {q(target.table)} t "
        f"JOIN {q(pivot.table)} p ON p.{q(tgt.column)} = t.{q(target.primary_key[0].column)} "
        f"WHERE p.{q(own.column)} = {dialect.placeholder} "
        f"ORDER BY {', '.join(f't.{q(f.column)}' for f in target.primary_key)}"
    )
    params = [db.codec(pivot).value_to_db(own, owner)]
    rows = session._fetch(sql, params, f"cannot load {rel.label}")
    n = len(target.fields)
    items = session._merge_rows(target, ([r[:n] for r in rows],))
    pivots = session._merge_rows(pivot, ([r[n:] for r in rows],))
    return items, pivots
