"""A session against a reference model, step by step (hypothesis stateful testing).

The model keeps three dicts: what the database holds for everyone (``committed``), what the
session's open transaction holds (``flushed``) and what the session would commit (``pending``),
plus a stack of savepoints (``pending`` at each one's entry). After every step the database is
read through a separate raw ``sqlite3`` connection and must equal ``committed``, the session's
own connection must read ``flushed``, and the session's change set must describe exactly the
difference from ``flushed`` to ``pending``. Steps: add, change, remove, upsert (on the unique
email: a fresh one, or one whose row the transaction holds unchanged), flush, commit,
rollback, enter a savepoint, leave it normally, leave it by an exception (rolled back), and a
commit made to fail (a duplicate unique email) which must change nothing.
A second machine does the same for collections (``CollectionMachine``), also on the pure
path of the relation move (``PureCollectionMachine``: ``core._moves`` switched off).
"""

from __future__ import annotations

import sqlite3
import tempfile
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import core.collection
from core import Database, IntegrityError, OrmError
from tests.core.models import ALL, Author
from tests.core.relation_models import ALL as REL_ALL
from tests.core.relation_models import Author as RAuthor
from tests.core.relation_models import Post as RPost
from tests.core.relation_models import Tag as RTag

NAMES = st.text(alphabet="abcdefgh", min_size=1, max_size=5)
AGES = st.none() | st.integers(min_value=-5, max_value=120)


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "state.db"
        self.db = Database(f"sqlite:///{self.path}", ALL)
        self.db.migrate()
        self.session = self.db.create_session()
        self.raw = sqlite3.connect(self.path)
        # email -> (name, age): the database, and what the session would make of it.
        self.committed: dict[str, tuple[str, int | None]] = {}
        self.pending: dict[str, tuple[str, int | None]] = {}
        self.flushed: dict[str, tuple[str, int | None]] = {}
        #: Open savepoints: the context manager and ``pending`` when it was entered.
        self.savepoints: list[tuple[AbstractContextManager[Any], dict[str, Any]]] = []
        self.objects: dict[str, Author] = {}
        self.serial = 0
        #: Emails with a staged upsert (sent by the next flush).
        self.upserted: set[str] = set()

    def teardown(self) -> None:
        self.session.close()
        self.raw.close()
        self.db.close()
        self.dir.cleanup()

    def _loaded(self) -> list[Author]:
        return [
            o
            for e, o in self.objects.items()
            if e in self.pending and e in self.flushed and e not in self.upserted
        ]

    def _sent(self) -> None:
        """Staged work was flushed: the upserted rows' objects are the session's mapped ones."""
        self.flushed = dict(self.pending)
        for email in self.upserted:
            self.objects[email] = self.session.query(Author).filter(email=email).find_one()
        self.upserted.clear()
        self._forget_unflushed()

    def _forget_unflushed(self) -> None:
        """Objects whose rows the session no longer holds are detached: stop using them."""
        for email in list(self.objects):
            if email not in self.flushed:
                del self.objects[email]

    @rule(name=NAMES, age=AGES)
    def add(self, name: str, age: int | None) -> None:
        self.serial += 1
        email = f"u{self.serial}@x"
        obj = Author(email=email, name=name, age=age)
        self.session.add(obj)
        self.objects[email] = obj
        self.pending[email] = (name, age)

    @precondition(lambda self: bool(self._loaded()))
    @rule(data=st.data(), name=NAMES, age=AGES)
    def change(self, data: st.DataObject, name: str, age: int | None) -> None:
        obj = data.draw(st.sampled_from(self._loaded()))
        if data.draw(st.booleans()):
            obj.name = name
        else:
            obj.age = age
        self.pending[obj.email] = (obj.name, obj.age)

    @precondition(lambda self: bool(self._loaded()))
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        obj = data.draw(st.sampled_from(self._loaded()))
        self.session.remove(obj)
        del self.pending[obj.email]

    @precondition(lambda self: len(self.upserted) < 3)
    @rule(data=st.data(), name=NAMES, age=AGES)
    def upsert(self, data: st.DataObject, name: str, age: int | None) -> None:
        """Upsert on email: a row the transaction holds (unchanged, not staged for removal)
        takes the values at the next flush, with its loaded object; or a fresh row."""
        held = sorted(
            e
            for e in self.flushed
            if self.pending.get(e) == self.flushed[e] and e not in self.upserted
        )
        if held and data.draw(st.booleans()):
            email = data.draw(st.sampled_from(held))
        else:
            self.serial += 1
            email = f"u{self.serial}@x"
        self.session.upsert(Author(email=email, name=name, age=age), on="email")
        self.pending[email] = (name, age)
        self.upserted.add(email)

    @rule()
    def reload(self) -> None:
        """Query everything through the session (identity map: nothing is overwritten)."""
        for obj in self.session.query(Author).find():
            if obj.email in self.upserted:
                assert (obj.name, obj.age) == self.flushed[obj.email]  # not sent yet
            elif obj.email in self.pending:
                assert (obj.name, obj.age) == self.pending[obj.email]
            self.objects[obj.email] = obj

    @rule()
    def flush(self) -> None:
        self.session.flush()
        self._sent()

    @precondition(lambda self: not self.savepoints)
    @rule()
    def commit(self) -> None:
        self.session.commit()
        self.committed = dict(self.pending)
        self._sent()

    @precondition(lambda self: not self.savepoints)
    @rule()
    def rollback(self) -> None:
        self.session.rollback()
        self.pending, self.flushed = dict(self.committed), dict(self.committed)
        self.upserted.clear()
        self._forget_unflushed()
        for email, obj in self.objects.items():
            assert (obj.name, obj.age) == self.committed[email]
            assert self.session.state_of(obj) == "persistent"

    @precondition(lambda self: len(self.savepoints) < 3)
    @rule()
    def enter_savepoint(self) -> None:
        cm = self.session.savepoint()
        cm.__enter__()
        self._sent()
        self.savepoints.append((cm, dict(self.pending)))

    @precondition(lambda self: bool(self.savepoints))
    @rule()
    def leave_savepoint(self) -> None:
        cm, _ = self.savepoints.pop()
        cm.__exit__(None, None, None)
        self._sent()

    @precondition(lambda self: bool(self.savepoints))
    @rule()
    def roll_back_to_savepoint(self) -> None:
        """Leaving by an exception: database and memory as they were on entry."""
        cm, at_entry = self.savepoints.pop()
        error = RuntimeError("leave the block")
        assert cm.__exit__(RuntimeError, error, None) is False  # re-raised
        self.pending, self.flushed = dict(at_entry), dict(at_entry)
        self.upserted.clear()
        self._forget_unflushed()
        for email, obj in self.objects.items():
            assert (obj.name, obj.age) == at_entry[email]
            assert self.session.state_of(obj) == "persistent"

    @precondition(lambda self: any(e in self.pending for e in self.flushed))
    @rule(data=st.data())
    def failing_commit(self, data: st.DataObject) -> None:
        """A new object with an email a row keeps makes the commit (or flush, inside a
        savepoint) fail and change nothing; then it is unstaged. (An email staged for removal
        is free: its row is deleted first.)"""
        taken = data.draw(st.sampled_from(sorted(e for e in self.flushed if e in self.pending)))
        dup = Author(email=taken, name="dup")
        before = self.session.changes()
        self.session.add(dup)
        try:
            if self.savepoints:
                self.session.flush()
            else:
                self.session.commit()
        except IntegrityError:
            pass
        else:
            pytest.fail("a duplicate email committed")
        self.session.remove(dup)
        assert self.session.changes() == before

    @invariant()
    def database_matches_committed(self) -> None:
        rows = self.raw.execute("SELECT email, name, age FROM author").fetchall()
        assert {e: (n, a) for e, n, a in rows} == self.committed

    @invariant()
    def session_reads_what_it_flushed(self) -> None:
        rows = self.session._fetch("SELECT email, name, age FROM author", [], "check")
        assert {e: (n, a) for e, n, a in rows} == self.flushed

    @invariant()
    def change_set_matches_pending(self) -> None:
        cs = self.session.changes()
        inserted = {i.obj.email for i in cs.inserts}
        deleted = {d.obj.email for d in cs.deletes}
        assert {u.obj.email for u in cs.upserts} == self.upserted
        assert inserted == set(self.pending) - set(self.flushed) - self.upserted
        assert deleted == set(self.flushed) - set(self.pending)
        for u in cs.updates:
            assert self.pending[u.obj.email] != self.flushed[u.obj.email]
        changed = {
            e
            for e in self.pending
            if e in self.flushed and self.pending[e] != self.flushed[e] and e not in self.upserted
        }
        assert {u.obj.email for u in cs.updates} == changed


SessionMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSessionAgainstModel = SessionMachine.TestCase


class CollectionMachine(RuleBasedStateMachine):
    """Collections against a reference model: posts appended to and moved between authors'
    ``posts`` (by the collection or by the reference), retitled (also after a move), taken
    out, tagged and untagged from either side of the many-to-many, committed, rolled back, a
    commit refused by the database (nothing changes), and authors removed with their posts
    (``ON DELETE CASCADE``). After every step the database (read through a raw
    ``sqlite3`` connection) must equal the committed model, and every collection in memory
    (loaded lazily by the session when first read, or eagerly by a new session) the pending
    one."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "collections.db"
        self.db = Database(f"sqlite:///{self.path}", REL_ALL)
        self.db.migrate()
        seed = self.db.create_session()
        seed.add(*(RAuthor(name=n) for n in ("ann", "bob", "cy")))
        seed.add(*(RTag(name=n) for n in ("db", "py", "ui")))
        seed.commit()
        self.session = self.db.create_session()
        self.raw = sqlite3.connect(self.path)
        self.authors = {a.name: a for a in self.session.query(RAuthor).find()}
        self.tags = {t.name: t for t in self.session.query(RTag).find()}
        self.posts: dict[str, RPost] = {}
        # title -> (author name or None, tag names): the database, and the session's view.
        self.committed: dict[str, tuple[str | None, frozenset[str]]] = {}
        self.pending: dict[str, tuple[str | None, frozenset[str]]] = {}
        self.serial = 0

    def teardown(self) -> None:
        self.raw.close()
        self.db.close()
        self.dir.cleanup()

    def _titles(self) -> list[str]:
        return sorted(self.pending)

    def _set(
        self, title: str, author: str | None = None, tags: frozenset[str] | None = None
    ) -> None:
        old_author, old_tags = self.pending[title]
        self.pending[title] = (
            author if author is not None else old_author,
            tags if tags is not None else old_tags,
        )

    @rule(data=st.data())
    def new_post(self, data: st.DataObject) -> None:
        author = data.draw(st.sampled_from(sorted(self.authors)) | st.none())
        self.serial += 1
        title = f"p{self.serial}"
        post = RPost(title=title)
        if author is None:
            self.session.add(post)
        else:
            self.authors[author].posts.append(post)
        self.posts[title] = post
        self.pending[title] = (author, frozenset())

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data(), by_ref=st.booleans())
    def move(self, data: st.DataObject, by_ref: bool) -> None:
        title = data.draw(st.sampled_from(self._titles()))
        author = data.draw(st.sampled_from(sorted(self.authors)))
        post = self.posts[title]
        if by_ref:
            post.author = self.authors[author]
        else:
            self.authors[author].posts.append(post)
        self._set(title, author=author)

    def _stored_with_author(self) -> list[str]:
        return [t for t in self._titles() if t in self.committed and self.pending[t][0]]

    @precondition(lambda self: bool(self._stored_with_author()))
    @rule(data=st.data())
    def move_stored(self, data: st.DataObject) -> None:
        """Stored posts with an author moved by ``append`` to the next author: the common move
        (the quick one, written by the commit's own pass over moves, ``collect_moves``)."""
        names = sorted(self.authors)
        stored = self._stored_with_author()
        for title in data.draw(st.lists(st.sampled_from(stored), min_size=1, unique=True)):
            owner = self.pending[title][0]
            assert owner is not None
            author = names[(names.index(owner) + 1) % len(names)]
            self.authors[author].posts.append(self.posts[title])
            self._set(title, author=author)

    @precondition(lambda self: any(a is not None for a, _ in self.pending.values()))
    @rule(data=st.data())
    def take_out(self, data: st.DataObject) -> None:
        title = data.draw(st.sampled_from([t for t in self._titles() if self.pending[t][0]]))
        post = self.posts[title]
        owner = self.pending[title][0]
        assert owner is not None
        self.authors[owner].posts.remove(post)
        self.pending[title] = (None, self.pending[title][1])

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data(), tag=st.sampled_from(["db", "py", "ui"]), from_tag=st.booleans())
    def tag(self, data: st.DataObject, tag: str, from_tag: bool) -> None:
        title = data.draw(st.sampled_from(self._titles()))
        post, t = self.posts[title], self.tags[tag]
        if from_tag:
            t.posts.append(post)
        else:
            post.tags.append(t)
        self._set(title, tags=self.pending[title][1] | {tag})

    @precondition(lambda self: any(tags for _, tags in self.pending.values()))
    @rule(data=st.data(), from_tag=st.booleans())
    def untag(self, data: st.DataObject, from_tag: bool) -> None:
        title = data.draw(st.sampled_from([t for t in self._titles() if self.pending[t][1]]))
        tag = data.draw(st.sampled_from(sorted(self.pending[title][1])))
        post, t = self.posts[title], self.tags[tag]
        if from_tag:
            t.posts.remove(post)
        else:
            post.tags.remove(t)
        self._set(title, tags=self.pending[title][1] - {tag})

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data(), tag=st.sampled_from(["db", "py", "ui"]))
    def by_untracked_copies(self, data: st.DataObject, tag: str) -> None:
        """An author and a tag loaded untracked (``database.query``) stand for their rows:
        given to a post, the session's own objects take their place (nothing is inserted)."""
        title = data.draw(st.sampled_from(self._titles()))
        name = data.draw(st.sampled_from(sorted(self.authors)))
        post = self.posts[title]
        post.author = self.db.query(RAuthor).filter(name=name).find_one()
        post.tags.append(self.db.query(RTag).filter(name=tag).find_one())
        assert post.author is self.authors[name]
        self._set(title, author=name, tags=self.pending[title][1] | {tag})

    @rule(data=st.data(), post_side=st.booleans())
    def refresh(self, data: st.DataObject, post_side: bool) -> None:
        """``refresh`` of a stored post drops its own unsaved change (its author) and unloads
        its collections; of an author, only unloads them: the staged work of other objects
        (moves of other posts, links) stays, and every reloaded collection shows it."""
        stored = [t for t in self._titles() if t in self.committed]
        if post_side and stored:
            title = data.draw(st.sampled_from(stored))
            self.session.refresh(self.posts[title])
            self.pending[title] = (self.committed[title][0], self.pending[title][1])
        else:
            self.session.refresh(self.authors[data.draw(st.sampled_from(sorted(self.authors)))])

    @rule(data=st.data())
    def added_elsewhere(self, data: st.DataObject) -> None:
        """Another session commits a new post of an author: after ``refresh(author)`` the
        author's collection (reloaded) holds it, with the session's staged work still there."""
        name = data.draw(st.sampled_from(sorted(self.authors)))
        self.serial += 1
        title = f"p{self.serial}"
        other = self.db.create_session()
        other.add(RPost(title=title, author=other.query(RAuthor).filter(name=name).find_one()))
        other.commit()
        other.close()
        author = self.authors[name]
        self.session.refresh(author)
        self.posts[title] = next(p for p in author.posts if p.title == title)
        self.committed[title] = self.pending[title] = (name, frozenset())

    @rule()
    def commit(self) -> None:
        self.session.commit()
        self.committed = dict(self.pending)

    @rule()
    def rollback(self) -> None:
        self.session.rollback()
        self.pending = dict(self.committed)
        # (Keyed by the titles the rollback put back: a retitled post has its old one.)
        self.posts = {p.title: p for p in self.posts.values() if p.title in self.committed}

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data())
    def retitle(self, data: st.DataObject) -> None:
        """A plain field change of a post, also of one just moved (by the collection or the
        reference): the commit writes both changes, a rollback puts both back."""
        title = data.draw(st.sampled_from(self._titles()))
        post = self.posts.pop(title)
        post.title = f"{title}r"
        self.posts[post.title] = post
        self.pending[post.title] = self.pending.pop(title)

    @rule()
    def failed_commit(self) -> None:
        """A commit the database refuses (triggers on every write of posts and links) changes
        nothing: the database, every collection, every reference and the staged work stay as
        they were (the next commit writes it all). With nothing to write it succeeds."""
        tables, ops = ("r_post", "r_post_tag"), ("INSERT", "UPDATE", "DELETE")
        for table in tables:
            for op in ops:
                self.raw.execute(
                    f"CREATE TRIGGER refuse_{op.lower()}_{table} BEFORE {op} ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
        self.raw.commit()
        try:
            self.session.commit()
        except OrmError:
            pass
        else:
            assert self.pending == self.committed
        finally:
            for table in tables:
                for op in ops:
                    self.raw.execute(f"DROP TRIGGER refuse_{op.lower()}_{table}")
            self.raw.commit()

    @precondition(lambda self: self.pending == self.committed)
    @rule()
    def reload_eagerly(self) -> None:
        """A new session loads every author with its posts and their tags, and every tag
        with its posts, by ``eager`` (the pivot objects of those collections are made only
        when an edit or a delete needs them); the later steps work on these objects."""
        self.session = self.db.create_session()
        authors = self.session.query(RAuthor).eager("posts.tags").find()
        self.authors = {a.name: a for a in authors}
        self.tags = {t.name: t for t in self.session.query(RTag).eager("posts").find()}
        self.posts = {p.title: p for p in self.session.query(RPost).eager("tags").find()}

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data())
    def remove_post(self, data: st.DataObject) -> None:
        """Remove a post and commit: it leaves its author's and its tags' collections (its
        links go by ``ON DELETE CASCADE``)."""
        title = data.draw(st.sampled_from(self._titles()))
        post = self.posts.pop(title)
        self.session.remove(post)
        self.session.commit()
        del self.pending[title]
        self.committed = dict(self.pending)
        if title not in self.committed and self.session.state_of(post) != "detached":
            raise AssertionError(f"{title} is still in the session after its removal")

    @precondition(lambda self: len(self.authors) > 1)
    @rule(data=st.data())
    def remove_author(self, data: st.DataObject) -> None:
        """Remove an author and commit: the database deletes the author's posts (and their
        tag links); the session must drop them from memory too."""
        name = data.draw(st.sampled_from(sorted(self.authors)))
        author = self.authors.pop(name)
        self.session.remove(author)
        self.session.commit()
        gone = [t for t, (a, _) in self.pending.items() if a == name]
        for title in gone:
            del self.pending[title]
            assert self.session.state_of(self.posts.pop(title)) == "detached"
        self.committed = dict(self.pending)

    @invariant()
    def database_matches_committed(self) -> None:
        posts = self.raw.execute(
            "SELECT p.title, a.name FROM r_post p LEFT JOIN r_author a ON a.id = p.author"
        ).fetchall()
        links = self.raw.execute(
            "SELECT p.title, t.name FROM r_post_tag l JOIN r_post p ON p.id = l.post "
            "JOIN r_tag t ON t.id = l.tag"
        ).fetchall()
        stored = {
            title: (author, frozenset(t for p, t in links if p == title)) for title, author in posts
        }
        assert stored == self.committed

    @invariant()
    def collections_match_pending(self) -> None:
        for name, author in self.authors.items():
            expected = {t for t, (a, _) in self.pending.items() if a == name}
            assert {p.title for p in author.posts} == expected, name
        for name, tag in self.tags.items():
            expected = {t for t, (_, tags) in self.pending.items() if name in tags}
            assert {p.title for p in tag.posts} == expected, name
        for title, post in self.posts.items():
            author, tags = self.pending[title]
            assert (post.author.name if post.author is not None else None) == author
            assert {t.name for t in post.tags} == tags


CollectionMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCollectionsAgainstModel = CollectionMachine.TestCase


class PureCollectionMachine(CollectionMachine):
    """The same machine on the pure path of the relation move (``core._moves`` switched off
    for its database and its appends; ``CollectionMachine`` runs with it where it is built)."""

    def __init__(self) -> None:
        self._before = core.collection.MOVES
        core.collection.use_speedups(None)
        try:
            super().__init__()
        except BaseException:
            core.collection.use_speedups(self._before)
            raise

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            core.collection.use_speedups(self._before)


PureCollectionMachine.TestCase.settings = CollectionMachine.TestCase.settings
TestCollectionsAgainstModelPure = PureCollectionMachine.TestCase
