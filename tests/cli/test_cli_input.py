"""Input: ``;`` and newlines separate commands, a pasted block runs line by line, open
brackets/quotes and a trailing backslash continue a command; highlighting from the tokenizer;
"did you mean"; hints for SQL; exit codes of piped input; the quit question; the sandbox."""

from __future__ import annotations

from io import StringIO

from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from core import Database
from ormcli.highlight import style_line
from ormcli.loader import load_models
from ormcli.repl import Repl
from ormcli.statements import is_complete, split_commands
from tests.cli.helpers import drive, invoke, workspace

PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"


def test_semicolons_and_newlines_separate_commands() -> None:
    """; ends a command (not inside quotes); blank parts and comment lines are dropped."""
    assert split_commands("count User; count Tag;") == ["count User", "count Tag"]
    assert split_commands('add Tag name="a;b"\n\n# note\nfind Tag') == [
        'add Tag name="a;b"',
        "find Tag",
    ]
    assert split_commands('add Post meta={"a": 1,\n "b": 2}') == [
        'add Post meta={"a": 1,\n "b": 2}'
    ]
    assert split_commands("find User \\\nwhere id = 1") == ["find User  where id = 1"]


def test_open_brackets_quotes_and_a_backslash_continue_a_command() -> None:
    """Enter continues the command while a bracket or quote is open or a line ends in \\."""
    assert not is_complete('add Post meta={"a": 1,')
    assert not is_complete('add Tag name="abc')
    assert not is_complete("find User \\")
    assert is_complete('add Tag name="a\\"b"')
    assert is_complete("count User; count Tag")


def test_count_with_a_semicolon_and_two_commands_on_a_line(db_url: str, blog_models: str) -> None:
    """count User; (as dbcli users type it) and two commands on one line both run."""
    ws = workspace(db_url, blog_models)
    screen, _ = drive(ws, 'count User;\nadd Tag name="a"; add Tag name="b"\nstatus\nquit\nd\n')
    assert "error" not in screen
    assert "+ @1 Tag" in screen and "+ @2 Tag" in screen
    assert "2 to add, 0 to change, 0 to remove" in screen
    ws.close()


def test_a_pasted_block_runs_line_by_line(db_url: str, blog_models: str) -> None:
    """A bracketed paste of two lines, then Enter: two commands, in order."""
    ws = workspace(db_url, blog_models)
    paste = PASTE_START + 'add Tag name="a"\nadd Tag name="b"\n' + PASTE_END + "\n"
    screen, _ = drive(ws, paste + "status\nquit\nd\n")
    assert "+ @1 Tag" in screen and "+ @2 Tag" in screen
    assert "2 to add" in screen
    ws.close()


def test_a_command_continues_over_lines_while_a_bracket_is_open(
    db_url: str, blog_models: str
) -> None:
    """A dict spread over two lines is one value; a trailing backslash joins two lines."""
    ws = workspace(db_url, blog_models)
    keys = 'add User email="a@x" name="A"\nadd Post author=@1 title="T" meta={"k": "v",\n'
    keys += '"l": "w"}\nfind User \\\nwhere name = "A"\nquit\nd\n'
    screen, _ = drive(ws, keys)
    assert "error" not in screen, screen
    assert 'meta={"k": "v", "l": "w"}' in screen
    assert "(1 row" in screen
    ws.close()


def test_highlighting_comes_from_the_tokenizer() -> None:
    """Command bold (red when unknown), keywords bold, strings green, numbers cyan, handles
    magenta; what the tokenizer rejects is left plain; the fragments cover the line."""
    line = 'find User where name = "Ann" and id > 3 and author = @1'
    fragments = style_line(line)
    assert "".join(text for _, text in fragments) == line
    styles = {text: style for style, text in fragments if text.strip()}
    assert styles["find"] == "bold" and styles["where"] == "bold"
    assert styles['"Ann"'] == "ansigreen" and styles["3"] == "ansicyan"
    assert styles["@1"] == "ansimagenta" and styles["User"] == ""
    assert style_line("fnd User")[0] == ("ansired", "fnd")
    unfinished = 'add Tag name="abc'
    assert "".join(text for _, text in style_line(unfinished)) == unfinished


def test_did_you_mean_for_commands_entities_and_fields(db_url: str, blog_models: str) -> None:
    """fnd User, find Usr and where nme = ... each suggest the name meant."""
    ws = workspace(db_url, blog_models)
    screen, _ = drive(ws, 'fnd User\nfind Usr\nfind User where nme = "x"\nquit\n')
    assert "unknown command 'fnd' — did you mean 'find'? (try 'help')" in screen
    assert "unknown entity 'Usr' — did you mean 'User'?" in screen
    assert "User has no field 'nme' — did you mean 'name'?" in screen
    ws.close()


def test_a_bare_select_gets_a_hint(db_url: str, blog_models: str) -> None:
    """SELECT * FROM user is not the language: the hint names find and status --sql."""
    ws = workspace(db_url, blog_models)
    screen, _ = drive(ws, "SELECT * FROM user\nquit\n")
    assert "'SELECT' is SQL; this is ormcli's own language" in screen
    assert "status --sql" in screen
    ws.close()


def test_an_enum_value_error_lists_the_allowed_values(db_url: str, shop_models: str) -> None:
    """status="bogus" on an enum field names the members."""
    ws = workspace(db_url, shop_models)
    screen, _ = drive(
        ws, 'add Customer email="c@x" name="C"\nadd Order customer=@1 status="bogus"\nquit\nd\n'
    )
    assert 'Order.status expects OrderStatus, got "bogus" (one of open, paid, shipped)' in screen
    ws.close()


def test_piped_input_with_a_failing_line_exits_1(db_url: str, blog_models: str) -> None:
    """ormcli repl < lines: a failing line is reported and the exit code is 1 (0 when all ran)."""
    args = ["--db", db_url, "--models", blog_models]
    assert invoke([*args, "migrate"]).exit_code == 0
    bad = invoke([*args, "repl"], "count User\nfind Nope\ncount Tag\n")
    assert bad.exit_code == 1
    assert "unknown entity 'Nope'" in bad.stderr + bad.stdout
    assert invoke([*args, "repl"], "count User\n").exit_code == 0


def test_ctrl_d_at_the_quit_question_asks_once_more(db_url: str, blog_models: str) -> None:
    """The first Ctrl-D at the question asks again; the second discards (never commits)."""
    ws = workspace(db_url, blog_models)
    screen, _ = drive(ws, 'add Tag name="t"\n')
    assert "Ctrl-D again discards the staged work; or answer c, d or s" in screen
    assert "input ended: staged work discarded (1 to add" in screen
    assert ws.db.query(load_models_tag(ws)).count() == 0
    ws.close()


def load_models_tag(ws: object) -> type:
    return next(c for c in ws.classes if c.__name__ == "Tag")  # type: ignore[attr-defined]


def _sandbox_repl(db_url: str, blog_models: str, keys: str) -> tuple[str, Repl]:
    ws = workspace(db_url, blog_models)
    out = StringIO()
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        pipe.close()
        repl = Repl(
            ws,
            Console(file=out, color_system=None, width=100),
            input=pipe,
            output=DummyOutput(),
            sandbox=True,
        )
        repl.run()
    ws.close()
    return out.getvalue(), repl


def test_the_sandbox_commits_for_real_and_rolls_everything_back(
    db_url: str, blog_models: str
) -> None:
    """repl --sandbox: commit runs its statements (find sees the rows, the prompt is clean),
    a rollback drops only what was staged since; at the end nothing is left in the database."""
    keys = 'add User email="s@x" name="Sand"\ncommit\nadd Tag name="gone"\nrollback\n'
    keys += 'find User where name = "Sand"\ncount Tag\nmigrate\nquit\n'
    screen, repl = _sandbox_repl(db_url, blog_models, keys)
    assert "committed 1 insert in 1 statement" in screen
    assert "rolled back: 1 to add, 0 to change, 0 to remove discarded" in screen
    assert "(1 row" in screen
    assert "migrate is not available in a sandbox" in screen
    assert "sandbox: every commit of this session was rolled back" in screen
    assert repl.prompt_text().startswith("test.db (sandbox)") or "(sandbox)" in repl.label
    assert "sandbox" in repl.toolbar()
    classes = load_models([blog_models])
    db = Database(db_url, classes)
    user = next(c for c in classes if c.__name__ == "User")
    assert db.query(user).count() == 0
    db.close()


def test_repl_sandbox_from_the_command_line(db_url: str, blog_models: str) -> None:
    """ormcli repl --sandbox < lines: the commit is reported, the database stays empty."""
    args = ["--db", db_url, "--models", blog_models]
    assert invoke([*args, "migrate"]).exit_code == 0
    result = invoke([*args, "repl", "--sandbox"], 'add Tag name="x"\ncommit\ncount Tag\n')
    assert result.exit_code == 0, result.stderr
    assert "committed 1 insert" in result.stdout + result.stderr
    assert result.stdout.splitlines()[-1:] == ["1"] or "1\n" in result.stdout
    assert invoke([*args, "find", "Tag", "-f", "csv"]).stdout == "id,name\n"
