"""The REPL driven through prompt-toolkit's pipe input and DummyOutput."""

from __future__ import annotations

from io import StringIO

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from rich.console import Console

from ormcli.completion import CommandCompleter
from ormcli.repl import Repl
from tests.cli.helpers import drive, workspace

ADA = 'add User email="ada@example.com" name="Ada"\n'


def completions(text: str) -> list[str]:
    fields = {"User": ["id", "email", "name"], "Post": ["id", "author", "title"]}
    completer = CommandCompleter(
        lambda: ["Post", "User"],
        lambda entity, writable: [
            f for f in fields.get(entity, []) if not (writable and f == "id")
        ],
    )
    found = completer.get_completions(Document(text), CompleteEvent(completion_requested=True))
    return [c.text for c in found]


def test_completion_offers_commands_entities_and_fields_in_context() -> None:
    """Commands first; then entities after add; field= after add User; fields after where."""
    assert completions("co") == ["commit", "count"]
    assert completions("add ") == ["Post", "User"]
    assert completions("add U") == ["User"]
    assert completions("add User ") == ["email=", "name="]
    assert completions('add User email="a" ') == ["name="]
    assert completions("set User 3 ") == ["email=", "name="]
    assert completions("set User ") == []
    assert completions("find User where ")[:3] == ["id", "email", "name"]
    assert completions("find User where na") == ["name"]
    assert completions("find User ") == [
        "select",
        "distinct",
        "where",
        "group by",
        "order by",
        "limit",
    ]
    assert completions("find User order by ti") == []
    assert completions("find Post order by ti") == ["title"]
    assert completions("status --") == ["--sql", "--all"]
    assert completions("help fi") == ["find"]


def test_the_repl_completes_from_the_loaded_models(db_url: str, blog_models: str) -> None:
    """The REPL's completer knows the loaded entities and their fields."""
    ws = workspace(db_url, blog_models)
    repl = Repl(ws, None)
    completer = repl.prompt_session.completer
    assert completer is not None
    event = CompleteEvent(completion_requested=True)
    found = [c.text for c in completer.get_completions(Document("add Tag "), event)]
    assert found == ["name=", "posts="]
    drive(ws, 'add Tag name="t"\nquit\nd\n')
    found = [c.text for c in completer.get_completions(Document("set @1 "), event)]
    assert found == ["name=", "posts="]  # the handle names the entity
    assert list(completer.get_completions(Document("set @9 "), event)) == []
    ws.close()


def test_add_set_remove_status_commit_in_one_session(db_url: str, blog_models: str) -> None:
    """Staging echoes each change; status shows the change set; commit writes it."""
    ws = workspace(db_url, blog_models)
    keys = ADA + 'add Post author=@1 title="Hi"\nset Post @2 title="Hello"\nstatus\ncommit\n'
    keys += "remove Post 1\nstatus\ncommit\ncount Post\nquit\n"
    screen, code = drive(ws, keys)
    assert code == 0
    assert '+ @1 User  email="ada@example.com"  name="Ada"' in screen
    assert '~ Post @2\n    title: "Hi" → "Hello"' in screen
    assert "2 to add, 0 to change, 0 to remove" in screen
    assert "committed 2 inserts in 2 statements" in screen
    assert "- Post 1\n0 to add, 0 to change, 1 to remove" in screen
    assert "committed 1 delete in 1 statement" in screen
    assert screen.rstrip().endswith("0")
    ws.close()


def test_rollback_restores_changed_fields(db_url: str, blog_models: str) -> None:
    """rollback discards adds and puts changed fields back."""
    ws = workspace(db_url, blog_models)
    keys = ADA + "commit\n" + 'set User 1 name="Changed"\nadd Tag name="x"\nrollback\nshow User 1\n'
    screen, _ = drive(ws, keys)
    assert "rolled back: 1 to add, 1 to change, 0 to remove discarded" in screen
    assert not ws.dirty
    assert any(line.split() == ["name", "Ada"] for line in screen.splitlines())
    ws.close()


def test_undo_takes_back_the_last_staged_operation(db_url: str, blog_models: str) -> None:
    """undo unstages an add, a set and a remove, newest first."""
    ws = workspace(db_url, blog_models)
    keys = ADA + "commit\n" + 'add Tag name="t"\nset User 1 name="B"\nremove User 1\n'
    keys += "undo\nundo\nstatus\nundo\nstatus\nundo\n"
    screen, _ = drive(ws, keys)
    assert "undone: remove User 1" in screen
    assert "undone: set User 1" in screen
    assert "1 to add, 0 to change, 0 to remove" in screen
    assert "undone: add @2 Tag" in screen
    assert screen.rstrip().endswith("nothing to undo")
    assert not ws.dirty
    ws.close()


def test_a_failing_line_prints_one_line_and_keeps_the_staged_work(
    db_url: str, blog_models: str
) -> None:
    """Parse errors, bad values and unknown names each print one line; nothing is lost."""
    ws = workspace(db_url, blog_models)
    keys = ADA + 'add User email=nope\nadd Usr name="x"\nset User @1 joined="someday"\n'
    keys += 'add Post author=@9 title="x"\nstatus\n'
    screen, _ = drive(ws, keys)
    errors = [line for line in screen.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: expected a value after 'email=', got 'nope' (quote text: \"nope\")",
        "error: unknown entity 'Usr' — did you mean 'User'? "
        "(known: Comment, Post, PostTag, Tag, User)",
        'error: User.joined expects date, got "someday"',
        "error: unknown handle @9 (handles name entities added this session)",
    ]
    assert "1 to add, 0 to change, 0 to remove" in screen
    ws.close()


def test_a_failed_commit_names_the_culprit_and_keeps_the_work(
    db_url: str, blog_models: str
) -> None:
    """A unique violation fails the commit, names User.email, and the work stays staged."""
    ws = workspace(db_url, blog_models)
    keys = ADA + "commit\n" + 'add User email="ada@example.com" name="Again"\ncommit\nstatus\n'
    screen, _ = drive(ws, keys)
    failure = [line for line in screen.splitlines() if line.startswith("error: commit failed")]
    assert len(failure) == 1
    assert failure[0] == (
        "error: commit failed: UNIQUE constraint failed on User.email: "
        'User @2 has email="ada@example.com" (nothing was written; the staged work is kept)'
    )
    after = screen.split(failure[0])[1]
    assert "+ User @2" in after and "1 to add, 0 to change, 0 to remove" in after
    ws.close()


def test_ctrl_c_clears_the_line_and_keeps_the_session(db_url: str, blog_models: str) -> None:
    """Ctrl-C abandons the half-typed line; the loop and the staged work go on."""
    ws = workspace(db_url, blog_models)
    screen, code = drive(ws, ADA + 'add Tag name="half\x03status\n')
    assert code == 0
    assert "1 to add, 0 to change, 0 to remove" in screen
    assert "Tag" not in screen.split("status")[-1]
    ws.close()


def test_quit_with_staged_work_asks_and_stay_keeps_it(db_url: str, blog_models: str) -> None:
    """quit asks commit/discard/stay; s stays, then d discards; nothing is committed."""
    ws = workspace(db_url, blog_models)
    screen, code = drive(ws, ADA + "quit\ns\nstatus\nquit\nd\n")
    assert code == 0
    assert "1 to add, 0 to change, 0 to remove" in screen
    assert "discarded (1 to add, 0 to change, 0 to remove); nothing was committed" in screen
    assert ws.db.query(ws.entity("User").cls).count() == 0
    ws.close()


def test_quit_with_commit_writes_the_work(db_url: str, blog_models: str) -> None:
    """Answering c commits and leaves."""
    ws = workspace(db_url, blog_models)
    screen, _ = drive(ws, ADA + "quit\nc\n")
    assert "committed 1 insert in 1 statement" in screen
    assert ws.db.query(ws.entity("User").cls).count() == 1
    ws.close()


def test_end_of_input_with_staged_work_never_commits(db_url: str, blog_models: str) -> None:
    """Ctrl-D / EOF with staged work discards (after asking) and commits nothing."""
    ws = workspace(db_url, blog_models)
    screen, code = drive(ws, ADA)
    assert code == 0
    assert "input ended: staged work discarded (1 to add, 0 to change, 0 to remove)" in screen
    assert ws.db.query(ws.entity("User").cls).count() == 0
    screen, _ = drive(ws, ADA, interactive=False)
    assert "staged work discarded (1 to add, 0 to change, 0 to remove); nothing was committed" in (
        screen
    )
    ws.close()


def test_the_prompt_shows_the_database_and_pending_counts(db_url: str, blog_models: str) -> None:
    """The prompt reads NAME> and NAME [+a ~c -r]> with staged work."""
    ws = workspace(db_url, blog_models)
    repl = Repl(ws, Console(file=StringIO()))
    assert repl.prompt_text().endswith("> ")
    assert "[" not in repl.prompt_text()
    lines = [ADA, 'add Tag name="a"', "commit", 'set User 1 name="x"', "remove Tag 1"]
    for line in [*lines, 'add Tag name="b"']:
        assert repl.handle(line) is False
    assert repl.prompt_text().endswith(" [+1 ~1 -1]> ")
    ws.close()


def test_help_lists_commands_and_explains_one(db_url: str, blog_models: str) -> None:
    """help prints every command; help COMMAND its usage and details."""
    ws = workspace(db_url, blog_models)
    screen, _ = drive(ws, "help\nhelp set\nhelp nope\n")
    assert "status [--sql] [--all]" in screen
    assert (
        "set ENTITY PK field=value ...  |  set @N field=value ...\n    change fields of one row\n"
        in screen
    )
    assert (
        "error: no command 'nope' (commands: load, models, add, upsert, set, remove, find, show, "
        in screen
    )
    ws.close()


def test_zero_counts_are_left_out_of_the_prompt(db_url: str, blog_models: str) -> None:
    """Only the kinds of staged work that exist are shown: [+1], [~1 -1]."""
    ws = workspace(db_url, blog_models)
    repl = Repl(ws, Console(file=StringIO()))
    repl.handle(ADA)
    assert repl.prompt_text().endswith(" [+1]> ")
    ws.close()


def test_where_on_a_reference_by_a_missing_key_matches_nothing(
    db_url: str, blog_models: str
) -> None:
    """`find Post where author = 99` is an empty result, not an error."""
    ws = workspace(db_url, blog_models)
    keys = ADA + 'add Post author=@1 title="Hi"\ncommit\n'
    keys += "count Post where author = 1\ncount Post where author = 99\nquit\n"
    screen, code = drive(ws, keys)
    assert code == 0 and "error" not in screen
    counts = [line for line in screen.splitlines() if line.strip() in ("0", "1")]
    assert counts[-2:] == ["1", "0"]
    ws.close()


def test_reset_handles_starts_numbering_at_one(db_url: str, blog_models: str) -> None:
    """After a seed script the REPL's first handle is @1 again."""
    ws = workspace(db_url, blog_models)
    drive(ws, ADA + "commit\nquit\n")
    ws.reset_handles()
    screen, _ = drive(ws, 'add Tag name="t"\nquit\nd\n')
    assert "+ @1 Tag" in screen
    ws.close()


def test_handles_come_from_a_counter_and_are_never_reused(db_url: str, blog_models: str) -> None:
    """An add taken back by undo keeps its number: the next add gets a new one, so an old @2
    in the scrollback never names a different entity."""
    ws = workspace(db_url, blog_models)
    screen, _ = drive(ws, ADA + 'add Tag name="a"\nundo\nadd Tag name="b"\nshow @2\nquit\nd\n')
    assert "undone: add @2 Tag" in screen
    assert "+ @3 Tag" in screen
    assert "@2 is no longer staged" in screen
    ws.close()


def test_answers_to_the_quit_question_stay_out_of_the_history(
    db_url: str, blog_models: str
) -> None:
    """Only command lines are remembered, not the c/d/s answer when leaving."""
    from prompt_toolkit.history import InMemoryHistory

    ws = workspace(db_url, blog_models)
    history = InMemoryHistory()
    drive(ws, ADA + "quit\nd\n", history=history)
    assert list(history.get_strings()) == [ADA.strip(), "quit"]
    ws.close()


def test_a_handle_alone_is_enough_to_set_show_and_remove(db_url: str, blog_models: str) -> None:
    """A user who just added @1 can type set @1 ..., show @1 and remove @1 (the handle knows
    its entity); a handle of nothing is one error line."""
    ws = workspace(db_url, blog_models)
    screen, code = drive(
        ws,
        'add Tag name="t"\nset @1 name="renamed"\nshow @1\nremove @1\nshow @7\nstatus\nquit\n',
    )
    assert code == 0
    assert "name     renamed" in screen or "renamed" in screen
    assert "unknown handle @7" in screen
    assert "nothing to commit" in screen
    ws.close()
