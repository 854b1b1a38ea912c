"""Relations in the REPL, scripts and ``ormcli find``: paths and any/none in ``where``,
collections in ``models``, ``show``, ``add``, ``set`` (``+=``/``-=``), ``status`` and ``undo``,
``find --include`` nesting related rows in JSON, and Tab completion of paths.

Every test runs on each configured backend (``db_url``), on the blog sample models: User.posts
(one-to-many through Post.author), Post.tags / Tag.posts (many-to-many through PostTag).
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from rich.console import Console

from ormcli import language as cmd
from ormcli import results as r
from ormcli.errors import CliError
from ormcli.executor import Workspace
from ormcli.render import render
from ormcli.repl import Repl
from ormcli.tokens import TokenStream
from ormcli.where import Related, parse_where
from tests.cli.helpers import invoke, workspace


def run(ws: Workspace, line: str) -> Any:
    command = cmd.parse(line)
    assert command is not None
    return ws.execute(command)


def text(ws: Workspace, line: str) -> str:
    out = StringIO()
    render(Console(file=out, width=120, color_system=None), run(ws, line))
    return out.getvalue()


def titles(rows: r.Rows) -> list[str | None]:
    at = rows.columns.index("title")
    return sorted(row[at] or "" for row in rows.rows)


@pytest.fixture
def ws(db_url: str, blog_models: str) -> Any:
    """Ann (posts "xray" tagged db+py, "yoga" tagged py), Bo (post "zen", no tag), Cy (no
    post); tags db, py, go."""
    space = workspace(db_url, blog_models)
    for line in [
        'add User email="ann@x" name="Ann"',
        'add User email="bo@x" name="Bo"',
        'add User email="cy@x" name="Cy"',
        'add Tag name="db"',
        'add Tag name="py"',
        'add Tag name="go"',
        'add Post author=@1 title="xray" tags=[@4, @5]',
        'add Post author=@1 title="yoga" tags=[@5]',
        'add Post author=@2 title="zen"',
        "commit",
    ]:
        run(space, line)
    space.reset_handles()
    yield space
    space.close()


def test_where_accepts_paths_through_references(ws: Workspace) -> None:
    assert titles(run(ws, 'find Post where author.name = "Ann"')) == ["xray", "yoga"]
    assert titles(run(ws, 'find Post where author.email like "b%" or title = "xray"')) == [
        "xray",
        "zen",
    ]
    assert run(ws, 'count Post where not author.name = "Ann"').count == 1
    assert run(ws, 'count Comment where post.author.name = "Ann"').count == 0


def test_where_any_and_none_test_collections(ws: Workspace) -> None:
    """``posts any (...)``, ``posts none``, through the pivot and nested."""

    def users(where: str) -> list[str | None]:
        rows = run(ws, f"find User where {where}")
        return sorted(row[rows.columns.index("name")] for row in rows.rows)

    assert users('posts any (title like "x%")') == ["Ann"]
    assert users("posts any") == ["Ann", "Bo"]
    assert users("posts none") == ["Cy"]
    assert users('posts none (title = "zen")') == ["Ann", "Cy"]
    assert users('posts any (tags any (name = "db"))') == ["Ann"]
    assert users('posts any (tags none) and name != "Cy"') == ["Bo"]
    assert titles(run(ws, 'find Post where tags any (name in ("go", "py"))')) == ["xray", "yoga"]
    assert titles(run(ws, "find Post where tags none")) == ["zen"]
    assert titles(run(ws, 'find Post where author.posts any (title = "zen")')) == ["zen"]
    assert run(ws, 'count Tag where posts any (author.name = "Ann")').count == 2


def test_where_paths_and_collections_name_their_mistakes(ws: Workspace) -> None:
    with pytest.raises(CliError, match=r"User\.posts is a collection; test its items with"):
        run(ws, 'find User where posts.title = "x"')
    with pytest.raises(CliError, match=r"User has no field 'nme' in 'author\.nme'"):
        run(ws, 'find Post where author.nme = "x"')
    with pytest.raises(CliError, match=r"Post has no collection 'title' to test with any/none"):
        run(ws, "find Post where title any")


def test_the_any_none_form_parses() -> None:
    stream = TokenStream('posts any (title like "x%") and tags none')
    expr = parse_where(stream)
    first, second = expr.items  # type: ignore[union-attr]
    assert isinstance(first, Related) and first.field == "posts" and not first.negated
    assert second == Related("tags", None, negated=True)


def test_staged_rows_match_paths_in_memory(ws: Workspace) -> None:
    """A staged post by Ann is found by ``author.name = "Ann"`` before the commit."""
    run(ws, 'add Post author=1 title="new"')
    assert titles(run(ws, 'find Post where author.name = "Ann"')) == ["new", "xray", "yoga"]
    assert run(ws, 'count Post where author.name = "Bo"').count == 1


def test_models_lists_collections(ws: Workspace) -> None:
    shown = text(ws, "models Post")
    assert "tags" in shown and "many-to-many via PostTag" in shown
    assert "one-to-many ← Post.author" in text(ws, "models User")


def test_show_lists_each_collection_with_count_and_first_rows(ws: Workspace) -> None:
    shown = text(ws, "show User 1")
    assert 'posts: 2 Posts — 1 "xray", 2 "yoga"' in shown
    assert 'tags: 2 Tags — 1 "db", 2 "py"' in text(ws, "show Post 1")
    assert "posts: 0 Posts" in text(ws, "show User 3")


def test_add_and_set_edit_collections_and_status_shows_them(ws: Workspace) -> None:
    """``add ... tags=[...]``, ``set ... tags+=[...]`` / ``tags-=[...]``: staged links, listed
    as + / - lines under their owner, written by commit."""
    run(ws, 'add Tag name="sql"')
    run(ws, 'add Post author=3 title="new" tags=[1, @1]')
    run(ws, "set Post 3 tags+=[@1, 2]")
    run(ws, "set Post 1 tags-=[1]")
    status = text(ws, "status")
    assert "+ Post @2\n" in status
    assert "    + tags Tag 1\n    + tags Tag @1\n" in status
    assert "  Post 3\n    + tags Tag @1\n    + tags Tag 2\n" in status
    assert "  Post 1\n    - tags Tag 1\n" in status
    run(ws, "commit")
    assert titles(run(ws, 'find Post where tags any (name = "db")')) == ["new"]
    assert titles(run(ws, 'find Post where tags any (name = "sql")')) == ["new", "zen"]
    assert titles(run(ws, 'find Post where tags any (name = "py")')) == ["xray", "yoga", "zen"]


def test_set_of_a_one_to_many_collection_moves_the_item(ws: Workspace) -> None:
    run(ws, "set User 3 posts+=[3]")
    assert text(ws, "status").count("posts Post 3") == 2  # + under Cy, - under Bo
    run(ws, "commit")
    assert titles(run(ws, 'find Post where author.name = "Cy"')) == ["zen"]


def test_undo_reverts_a_collection_edit(ws: Workspace) -> None:
    run(ws, "set Post 1 tags-=[1]")
    run(ws, "set Post 3 tags+=[1, 2]")
    run(ws, "undo")
    run(ws, "undo")
    assert run(ws, "status").empty
    run(ws, 'add Post author=2 title="t" tags=[1]')
    run(ws, "undo")
    assert run(ws, "status").empty


def test_collection_edits_name_their_mistakes(ws: Workspace) -> None:
    with pytest.raises(CliError, match="no Tag with key 9"):
        run(ws, "set Post 1 tags+=[9]")
    with pytest.raises(CliError, match=r"3 is not in Post\.tags of 1"):
        run(ws, "set Post 1 tags-=[3]")
    with pytest.raises(CliError, match=r"\+= edits a collection"):
        run(ws, 'set Post 1 title+="x"')
    assert run(ws, "status").empty


def test_a_script_edits_collections_as_one_unit_of_work(
    ws: Workspace, db_url: str, blog_models: str, tmp_path: Path
) -> None:
    script = tmp_path / "links.orm"
    script.write_text('add Tag name="sql"\nset Post 3 tags+=[@1, 1]\nset Post 1 tags-=[2]\n')
    ws.close()
    done = invoke(["--db", db_url, "--models", blog_models, "run", str(script)])
    assert done.exit_code == 0, done.stderr
    base = ["--db", db_url, "--models", blog_models]
    found = invoke([*base, "find", "Post", "--where", "title = 'zen'", "--json", "-i", "tags"])
    [zen] = json.loads(found.stdout)
    assert sorted(t["name"] for t in zen["tags"]) == ["db", "sql"]


def test_find_json_include_nests_related_rows(db_url: str, blog_models: str, ws: Any) -> None:
    ws.close()
    base = ["--db", db_url, "--models", blog_models, "find", "User"]
    done = invoke(
        [
            *base,
            "--order-by",
            "id",
            "--json",
            "--include",
            "posts.tags",
            "--include",
            "posts.author",
        ]
    )
    assert done.exit_code == 0, done.stderr
    ann, bo, cy = json.loads(done.stdout)
    assert [p["title"] for p in ann["posts"]] == ["xray", "yoga"]
    assert [t["name"] for t in ann["posts"][0]["tags"]] == ["db", "py"]
    assert ann["posts"][0]["author"]["name"] == "Ann"
    assert bo["posts"][0]["tags"] == [] and cy["posts"] == []
    table = invoke(["--db", db_url, "--models", blog_models, "find", "User", "-i", "posts"])
    assert "[2]" in table.stdout
    bad = invoke(["--db", db_url, "--models", blog_models, "find", "User", "-i", "postz"])
    assert bad.exit_code == 1 and "postz" in bad.stderr


def test_tab_completes_paths_and_collection_words(ws: Workspace) -> None:
    completer = Repl(ws, None).prompt_session.completer
    assert completer is not None
    event = CompleteEvent(completion_requested=True)

    def complete(line: str) -> list[str]:
        return [c.text for c in completer.get_completions(Document(line), event)]

    assert complete("find Post where author.na") == ["author.name"]
    assert "author.posts" in complete("find Post where author.")
    assert complete("find User where posts an") == ["any"]
    assert complete("find User where posts no") == ["not in (", "none"]
    assert "posts=" in complete("add User ")
