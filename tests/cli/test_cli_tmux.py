"""The REPL in a real terminal (tmux, which answers cursor-position requests as a user's
terminal does): the bottom toolbar as it is drawn, and Tab completion of values — stored keys
and natural keys of references, handles, enum members, ``True``/``False``/``None`` — with the
command words highlighted and completed from the first keystroke (issue 16 points 5 and 6)."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.cli.helpers import invoke
from tests.cli.terminal import TMUX, Pane

ORMCLI = shutil.which("ormcli", path=str(Path(sys.executable).parent)) or shutil.which("ormcli")
pytestmark = pytest.mark.skipif(
    ORMCLI is None or TMUX is None, reason="needs the ormcli console script and tmux"
)


@pytest.fixture
def shop(db_url: str, shop_models: str) -> list[str]:
    """The shop on the backend under test: customers 1-2, products TEA-1, TEA-2, COF-1."""
    args = ["--db", db_url, "--models", shop_models]
    script = (
        'migrate\nadd Customer email="ann@x" name="Ann"\nadd Customer email="bob@x" name="Bob"\n'
        'add Product sku="TEA-1" name="Green tea" price=3\n'
        'add Product sku="TEA-2" name="Black tea" price=3\n'
        'add Product sku="COF-1" name="Coffee" price=4\n'
    )
    result = invoke([*args, "run", "-"], input=script)
    assert result.exit_code == 0, result.stderr
    return args


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[list[Pane]]:
    """Panes opened by a test, closed after it whatever happened."""
    opened: list[Pane] = []
    yield opened
    for p in opened:
        p.close()


def _start(tmp_path: Path, panes: list[Pane], args: list[str]) -> Pane:
    assert ORMCLI is not None
    p = Pane(tmp_path, [ORMCLI, *args])
    panes.append(p)
    p.wait(r"> *$|>\s*\n")
    return p


def _fresh(p: Pane) -> None:
    """Ctrl-C, then wait for an empty prompt: the last line above the toolbar ends in ``>``."""
    p.key("C-c")

    def empty_prompt(screen: str) -> bool:
        lines = [line for line in screen.splitlines() if line.strip()]
        return len(lines) >= 2 and lines[-2].endswith(">")

    p.wait_for(empty_prompt)


def _line(p: Pane, text: str) -> None:
    """Type a command, wait until it shows on the screen, press Enter."""
    p.send(text)
    p.wait(re.escape(text) + r"\n")
    p.key("Enter")


def _menu(p: Pane, typed: str) -> str:
    """Type ``typed`` at an empty prompt, press Tab, return the screen with the menu."""
    p.send(typed)
    p.wait(re.escape(typed.rstrip()))
    p.key("Tab")
    return p.wait(r"\n {8,}\S")  # a completion menu: entries under the input, indented


def test_tab_completes_keys_natural_keys_handles_and_enum_members(
    tmp_path: Path, shop: list[str], pane: list[Pane]
) -> None:
    """``add Ord`` + Tab completes the entity on the first keystrokes; ``add Order customer=``
    offers the stored customer keys with each row's first text field and the handle of a
    staged customer; a natural key completes from its start (``product="T`` → the teas); the
    enum offers its members; a bool True/False and a nullable reference None; a customer staged
    for removal is not offered."""
    p = _start(tmp_path, pane, shop)
    p.send("add Ord")
    p.key("Tab")
    p.wait(r"> add Order")
    _fresh(p)
    _line(p, 'add Customer email="cy@x" name="Cy"')
    p.wait(r"\[\+1\]>")
    _line(p, "remove Customer 2")
    p.wait(r"\[\+1 -1\]>")
    screen = _menu(p, "add Order customer=")
    assert re.search(r"customer=@1 +new Customer", screen), screen
    assert re.search(r"customer=1 +ann@x", screen), screen
    assert "customer=2" not in screen  # staged for removal
    _fresh(p)
    screen = _menu(p, 'add OrderItem order=@1 line=1 product="T')
    assert re.search(r'product="TEA-1" +Green tea', screen), screen
    assert re.search(r'product="TEA-2" +Black tea', screen), screen
    assert "COF-1" not in screen
    _fresh(p)
    screen = _menu(p, "find Order where status = ")
    assert re.search(r'"open"\n +"paid"\n +"shipped"', screen), screen
    _fresh(p)
    p.send("find Product where sku = ")
    p.key("Tab")
    screen = p.wait(r'"COF-1" +Coffee')
    assert '"TEA-2"' in screen
    _fresh(p)
    _line(p, "rollback")
    p.wait(r"rolled back")
    _line(p, "quit")
    assert p.exit_status() == 0


def test_tab_completes_booleans_and_none(tmp_path: Path, db_url: str, pane: list[Pane]) -> None:
    """A bool field offers True and False; a nullable field ends with None."""
    models = tmp_path / "flags.py"
    models.write_text(
        "from typing import Annotated\n"
        "from core import AutoIncrement, PrimaryKey, entity\n"
        "@entity\nclass Flag:\n"
        "    id: Annotated[int, PrimaryKey, AutoIncrement] = 0\n"
        "    on: bool = False\n    note: str | None = None\n",
        encoding="utf-8",
    )
    args = ["--db", db_url, "--models", str(models)]
    assert invoke([*args, "migrate"]).exit_code == 0
    p = _start(tmp_path, pane, args)
    screen = _menu(p, "add Flag on=")
    assert re.search(r"on=True\n +on=False", screen), screen
    _fresh(p)
    p.send("add Flag note=")
    p.key("Tab")  # one value: inserted
    p.wait(r"> add Flag note=None")
    _fresh(p)
    _line(p, "quit")
    assert p.exit_status() == 0


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    if not parts.username:
        return url
    netloc = f"{parts.username}:{password}@{parts.hostname}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def test_the_bottom_toolbar_as_drawn(
    tmp_path: Path, db_url: str, blog_models: str, backend: str, pane: list[Pane]
) -> None:
    """The last row of the terminal: the database (its name, never a user or password), the
    staged counts as they change (+ add, ~ change, - remove), the transaction state, the keys;
    in a sandbox it says the commits are rolled back at exit."""
    assert invoke(["--db", db_url, "--models", blog_models, "migrate"]).exit_code == 0
    seed = 'add User email="ann@x" name="Ann"\nadd Tag name="t"\n'
    assert invoke(["--db", db_url, "--models", blog_models, "run", "-"], input=seed).exit_code == 0
    secret = "s3cret-toolbar"  # PostgreSQL trusts loopback: a password is accepted, unused
    url = _with_password(db_url, secret) if backend == "postgresql" else db_url
    label = urlsplit(db_url).path.rsplit("/", 1)[-1]
    if backend == "sqlite":
        label = Path(label).name
    p = _start(tmp_path, pane, ["--db", url, "--models", blog_models])
    keys = "Tab complete · → suggestion · Ctrl-C cancels · Ctrl-D quit"
    bottom = p.wait(re.escape(keys)).splitlines()[-1]
    assert secret not in p.screen()
    assert bottom == f" {label} │ +0 ~0 -0 │ no transaction │ {keys}", bottom
    _line(p, 'add User email="cy@x" name="Cy"')
    p.wait(r"\+1 ~0 -0 │")
    _line(p, 'set User 1 name="Ann B."')
    p.wait(r"\+1 ~1 -0 │")
    _line(p, "remove Tag 1")
    screen = p.wait(r"\+1 ~1 -1 │ no transaction │")
    assert screen.splitlines()[-1].startswith(f" {label} │ +1 ~1 -1 │")
    _line(p, "commit")
    screen = p.wait(r"committed .*\n(.*\n)*.* \+0 ~0 -0 │ no transaction")
    assert secret not in screen
    _line(p, "quit")
    assert p.exit_status() == 0

    s = _start(tmp_path, pane, ["--db", url, "--models", blog_models, "repl", "--sandbox"])
    bottom = s.wait(r"sandbox: rolled back at exit").splitlines()[-1]
    head = f" {label} (sandbox) │ +0 ~0 -0 │ sandbox: rolled back at exit"
    assert bottom in (f"{head} │ {keys}", f"{head} │ Tab · → · Ctrl-C · Ctrl-D"), bottom
    _line(s, 'add Tag name="u"')
    s.wait(r"\+1 ~0 -0 │ sandbox")
    _line(s, "commit")
    screen = s.wait(r"committed .*\n(.*\n)*.*\+0 ~0 -0 │ sandbox: rolled back at exit")
    assert secret not in screen
    s.key("C-d")
    assert s.exit_status() == 0


def test_the_toolbar_fits_a_narrow_terminal(
    tmp_path: Path, db_url: str, blog_models: str, pane: list[Pane]
) -> None:
    """At 60 columns the key hints are shortened or left out: the database, the counts and
    the state stay whole on one row."""
    assert invoke(["--db", db_url, "--models", blog_models, "migrate"]).exit_code == 0
    assert ORMCLI is not None
    p = Pane(tmp_path, [ORMCLI, "--db", db_url, "--models", blog_models], width=60)
    pane.append(p)
    bottom = p.wait(r"│ no transaction").splitlines()[-1]
    assert bottom.rstrip().endswith(("no transaction", "Ctrl-D")), bottom
    assert len(bottom) <= 60
    p.key("C-d")
    assert p.exit_status() == 0
