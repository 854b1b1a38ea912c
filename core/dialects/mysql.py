"""The MariaDB/MySQL dialect: PyMySQL, ``%s`` placeholders, backquotes, RETURNING on MariaDB.

Storage choices: tables are InnoDB in utf8mb4 with a binary collation (text compares and is
unique byte for byte, as on SQLite and PostgreSQL); int as BIGINT; str as LONGTEXT, or
VARCHAR(n) with MaxLength (VARCHAR(768) when unbounded text is indexed or unique: InnoDB cannot
index LONGTEXT whole); Decimal as DECIMAL(65,30), the widest exact type (trailing zeros of the
scale are stripped when read back); datetimes as DATETIME(6) — aware ones stored as UTC and read
back as UTC-aware, since MySQL has no time-zone-aware type; TIME(6); UUID as CHAR(36); bytes as
LONGBLOB; JSON as JSON; booleans as BOOLEAN (TINYINT(1)).

RETURNING: MariaDB >= 10.5 has ``INSERT ... RETURNING``; MySQL has none. ``supports_returning``
is found from the server version on the first connection (or fixed with ``returning=``). Without
it, new rows are inserted one statement per row, up to ``insert_ids_per_round_trip`` statements
in one multi-statement round trip, each result carrying its own insert id: ids are read, never
computed, so concurrent inserts cannot shift them. Batched UPDATEs use ``UPDATE t SET c = CASE
pk WHEN ... END WHERE pk IN (...)`` in chunks of 500 rows (measured faster than ``JOIN (SELECT
... UNION ALL ...)``); PyMySQL's executemany would send one UPDATE per round trip.
Callers: ``core.adapters.mysql``. What it leaves out: connecting (the adapter).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Generator, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import pymysql
import pymysql.cursors
from pymysql.converters import escape_item

from core.dialects.base import Converter, Dialect, _first_line
from core.entity import FieldInfo
from core.errors import DatabaseError, shorten

__all__ = ["MySQLDialect"]

#: Client and server error codes that mean the connection is gone.
_LOST_CODES = frozenset({2006, 2013, 2014, 2045, 2055, 1053, 1927, 4031})
_CONFLICT_CODES = frozenset({1205, 1213})
#: A write refused by a read-only server (``--read-only``, a read-only transaction).
_READ_ONLY_CODES = frozenset({1290, 1792})
#: A Galera node outside the primary component ("WSREP has not yet prepared node for
#: application use"): nothing it answers can be trusted, so it counts as a lost connection.
_NOT_READY_CODES = frozenset({1047})
_DUPLICATE = re.compile(r"Duplicate entry '.*' for key '(?:[^'.]+\.)?([^']+)'", re.S)
_FK = re.compile(r"foreign key constraint fails \(`[^`]*`\.`([^`]+)`, CONSTRAINT `([^`]+)`")
_NOT_NULL = re.compile(r"Column '([^']+)' cannot be null")
_CHECK = re.compile(r"CONSTRAINT `([^`]+)` failed for `[^`]*`\.`([^`]+)`")
_NEAR = re.compile(r"near '.*' at line \d+", re.S)
_INT_WIDTH = re.compile(r"^(tinyint|smallint|mediumint|int|bigint)\(\d+\)")

#: Spellings the server reports for the types ``type_map`` declares.
_ALIASES = {"boolean": "tinyint(1)", "bool": "tinyint(1)", "json": "longtext", "integer": "int"}


def _canonical(t: str) -> str:
    t = re.sub(r"\s+", " ", t.strip().lower())
    if t.startswith(("tinyint(1)", "boolean", "bool")):
        return "tinyint(1)"
    t = _INT_WIDTH.sub(r"\1", t)
    return _ALIASES.get(t, t)


def _aware_to_db(v: dt.datetime) -> dt.datetime:
    return v.astimezone(dt.UTC).replace(tzinfo=None)


def _aware_from_db(v: dt.datetime) -> dt.datetime:
    return v.replace(tzinfo=dt.UTC)


def _time_from_db(v: Any) -> dt.time:
    if isinstance(v, dt.timedelta):
        micros = v.days * 86_400_000_000 + v.seconds * 1_000_000 + v.microseconds
        seconds, micro = divmod(micros, 1_000_000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        return dt.time(hour, minute, second, micro)
    if isinstance(v, dt.time):
        return v
    return dt.time.fromisoformat(str(v))


def _decimal_from_db(v: Any) -> Decimal:
    d = v if isinstance(v, Decimal) else Decimal(str(v))
    sign, digits, exponent = d.as_tuple()
    if not isinstance(exponent, int) or exponent >= 0:
        return d
    strip = 0
    while strip < -exponent and strip < len(digits) - 1 and digits[-1 - strip] == 0:
        strip += 1
    return Decimal((sign, digits[: len(digits) - strip], exponent + strip)) if strip else d


def _unbuffered_rows(
    cur: Any, sql: str, params: Sequence[Any], size: int
) -> Generator[Any, None, None]:
    cur.execute(sql, params)
    while True:
        chunk = cur.fetchmany(size)
        if not chunk:
            cur.close()
            return
        yield from chunk


def _server_text(exc: BaseException) -> str:
    """The server's message of a PyMySQL error, without the statement text a syntax error
    quotes (``... near 'VALUES (1, 'secret')' at line 1``: values are written into the
    statement on the client, so the quote holds them)."""
    text = _NEAR.sub("near (the statement is not shown)", str(exc.args[1]))
    return shorten(text.strip().splitlines()[0] if text.strip() else type(exc).__name__)


class MySQLDialect(Dialect):
    name: ClassVar[str] = "mysql"
    display_name: ClassVar[str] = "MariaDB/MySQL"
    stores_nan: ClassVar[bool] = False
    stores_infinity: ClassVar[bool] = False
    #: DECIMAL(65,30): 35 digits before the point, 30 after; no NaN or infinity.
    decimal_digits: ClassVar[tuple[int, int] | None] = (35, 30)
    decimal_specials: ClassVar[bool] = False
    placeholder: ClassVar[str] = "%s"
    quote_char: ClassVar[str] = "`"
    #: Composite-key removals as row values: 10,000 took 59 ms, one statement per row 1.5 s.
    row_value_deletes: ClassVar[bool] = True
    #: PyMySQL binds on the client; the real bound is the statement size (below).
    max_params: ClassVar[int] = 65_535
    #: The server's ``max_allowed_packet``, read on connecting; until then MySQL 5.7's
    #: default, the smallest in use (MariaDB's is 16 MiB, MySQL 8's 64 MiB).
    max_statement_bytes: int | None = 4 * 1024 * 1024
    statement_size_setting: ClassVar[str] = "max_allowed_packet"
    update_form: ClassVar[str] = "case"
    #: Measured: 250-500 rows per statement is fastest (CASE lookups grow with the chunk; PyMySQL
    #: quotes every value in Python whatever the chunk).
    update_batch_rows: ClassVar[int] = 500
    #: PyMySQL's executemany sends one statement per row for anything but INSERT ... VALUES.
    executemany_rows_per_round_trip: ClassVar[int] = 1
    insert_ids_per_round_trip: ClassVar[int] = 500
    begin_sql: ClassVar[str | None] = "START TRANSACTION"
    #: The adapter's connections take several statements per query (``CLIENT.MULTI_STATEMENTS``).
    begin_joins: ClassVar[bool] = True
    #: A connection used for transaction after transaction runs with autocommit off, so that
    #: each opens implicitly with its first statement (no START TRANSACTION to send, and no
    #: second result for PyMySQL to read): see ``Dialect.autocommit_off_sql``.
    autocommit_off_sql: ClassVar[str | None] = "SET autocommit = 0"
    autocommit_on_sql: ClassVar[str | None] = "SET autocommit = 1"
    #: Any unique key's conflict takes the update branch (there is no conflict target); a
    #: row met through another key than the one named comes back unmatched and fails the commit.
    upsert_clause: ClassVar[str] = " ON DUPLICATE KEY UPDATE {sets}"
    upsert_new_value: ClassVar[str] = "VALUES({col})"
    upsert_old_value: ClassVar[str] = "{col}"
    empty_insert_values: ClassVar[str] = "() VALUES ()"
    checks_foreign_keys_per_row: ClassVar[bool] = True
    #: Writable: not ``read_only`` (and, on a Galera node, ready: see ``writable``).
    writable_sql: ClassVar[str | None] = "SELECT @@global.read_only = 0"
    autoincrement_pk: ClassVar[str] = "BIGINT AUTO_INCREMENT PRIMARY KEY"
    str_with_length: ClassVar[str] = "VARCHAR({n})"
    table_options: ClassVar[str] = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    unlimited: ClassVar[int | None] = 18_446_744_073_709_551_615
    type_map: ClassVar[dict[str, str]] = {
        "int": "BIGINT",
        "float": "DOUBLE",
        "bool": "BOOLEAN",
        "str": "LONGTEXT",
        "str_indexed": "VARCHAR(768)",
        "bytes": "LONGBLOB",
        "decimal": "DECIMAL(65,30)",
        "datetime": "DATETIME(6)",
        "date": "DATE",
        "time": "TIME(6)",
        "uuid": "CHAR(36)",
        "enum_int": "BIGINT",
        "enum_str": "VARCHAR({n})",
        "json": "JSON",
    }
    # TIME comes back as a timedelta and DECIMAL with the column's scale: not as sent.
    returning_exact_kinds: ClassVar[frozenset[str]] = frozenset(
        {"int", "str", "bool", "bytes", "uuid", "date", "datetime", "enum"}
    )

    # The tables' collation is binary; COLLATE keeps a pattern case-sensitive on any other.
    like_sql: ClassVar[str] = "{col} {not}LIKE {p} COLLATE utf8mb4_bin"
    ilike_sql: ClassVar[str] = "LOWER({col}) {not}LIKE LOWER({p}) COLLATE utf8mb4_bin"
    regex_sql: ClassVar[str | None] = "{col} {not}REGEXP {p} COLLATE utf8mb4_bin"
    #: AVG of integers is DECIMAL with 4 decimal places (``div_precision_increment``).
    avg_cast: ClassVar[str] = "CAST({} AS DOUBLE)"
    json_scalar_sql: ClassVar[str] = "JSON_VALUE({col}, {path})"
    json_text_sql: ClassVar[str] = "JSON_VALUE({col}, {path})"
    # JSON_VALUE is NULL for objects and lists; JSON_EXTRACT gives JSON null as 'null'.
    json_null_sql: ClassVar[str] = "NULLIF(JSON_EXTRACT({col}, {path}), 'null')"
    # JSON_VALUE is text: numbers sort by value first (JSON_TYPE tells them), then text.
    json_order_sql: ClassVar[tuple[str, ...]] = (
        "CASE WHEN JSON_TYPE(JSON_EXTRACT({col}, {path})) IN ('INTEGER', 'DOUBLE', 'DECIMAL')"
        " THEN CAST(JSON_VALUE({col}, {path}) AS DOUBLE) END",
        "JSON_VALUE({col}, {path})",
    )
    json_select_sql: ClassVar[str] = "JSON_EXTRACT({col}, {path})"

    def __init__(self, returning: bool | None = None) -> None:
        #: True/False once known; None until the server version was seen (``probe`` asks).
        self._returning = returning
        #: Set by the adapter: opens a connection to learn the server version.
        self.probe: Callable[[], None] | None = None

    @property
    def supports_returning(self) -> bool:
        if self._returning is None and self.probe is not None:
            self.probe()
        return bool(self._returning)

    @supports_returning.setter
    def supports_returning(self, value: bool) -> None:
        self._returning = value

    def learn_server(self, version: str) -> None:
        """Record what the server can do from its version string (first connection only)."""
        if self._returning is not None:
            return
        m = re.search(r"(\d+)\.(\d+)\.(\d+)-MariaDB", version)
        self._returning = m is not None and (int(m.group(1)), int(m.group(2))) >= (10, 5)

    def column_type(self, f: FieldInfo) -> str:
        if f.kind == "str" and f.max_length is None and (f.index or f.unique or f.primary_key):
            return self.type_map["str_indexed"]
        return super().column_type(f)

    def literal_bytes(self, value: Any) -> int:
        """Bytes PyMySQL writes for ``value`` (escaped, quoted, UTF-8) into a statement."""
        text: str = escape_item(value, "utf8mb4")
        return len(text.encode("utf-8", "surrogateescape")) + 8  # _binary before bytes

    def to_db_kind(self, f: FieldInfo) -> Converter | None:
        if f.kind == "datetime" and f.aware:
            return _aware_to_db
        return super().to_db_kind(f)

    def from_db_converter(self, f: FieldInfo) -> Converter | None:
        kind = f.kind
        if kind == "datetime":
            return _aware_from_db if f.aware else None
        if kind == "time":
            return _time_from_db
        if kind == "decimal":
            return _decimal_from_db
        return super().from_db_converter(f)

    def insert_ids(self, cursor: Any, sql: str, rows: Sequence[Sequence[Any]]) -> list[Any]:
        """The rows as one multi-statement text; each result set reports its own insert id."""
        if len(rows) == 1:
            cursor.execute(sql, rows[0])
            return [cursor.lastrowid]
        cursor.execute(";".join([sql] * len(rows)), [v for row in rows for v in row])
        keys = [cursor.lastrowid]
        while cursor.nextset():
            keys.append(cursor.lastrowid)
        if len(keys) != len(rows):
            raise pymysql.err.InterfaceError(
                0, f"{len(rows)} rows were inserted but {len(keys)} insert ids came back"
            )
        return keys

    # -- errors ----------------------------------------------------------------------------

    def autocommit_is_on(self, raw: Any) -> bool:
        # PyMySQL keeps the status flags of the last OK / end-of-rows packet (an error packet
        # carries none), so this is what the server said after the last statement that ran.
        return bool(raw.get_autocommit())

    def after_fetch(self, raw: Any) -> None:
        # PyMySQL keeps the last result's rows on the connection until the next command, which
        # then frees them (a 100k-row load made the following commit 3x slower). Free them now.
        raw._result = None

    def cancel(self, raw: Any) -> None:
        # KILL QUERY from a second connection with the same credentials (the protocol has no
        # cancel message); the statement fails with error 1317 and the connection stays usable.
        helper = pymysql.connect(
            host=raw.host,
            port=raw.port,
            user=raw.user,
            password=raw.password,
            unix_socket=raw.unix_socket,
            ssl=getattr(raw, "ctx", None) if getattr(raw, "_ssl_required", False) else None,
            connect_timeout=5,
        )
        try:
            with helper.cursor() as cursor:
                cursor.execute("KILL QUERY %s", (int(raw.thread_id()),))
        finally:
            helper.close()

    def stream_unbuffered(
        self, raw: Any, sql: str, params: Sequence[Any], size: int
    ) -> Generator[Any, None, None] | None:
        """PyMySQL's unbuffered cursor: rows are read off the socket as the loop asks. Stopping
        early leaves the rest unread; the caller then closes the connection (closing the
        cursor would read every remaining row first)."""
        cur = raw.cursor(pymysql.cursors.SSCursor)
        return _unbuffered_rows(cur, sql, params, size)

    def _wsrep_status(self, conn: Any, name: str) -> str | None:
        # SHOW STATUS, not information_schema.GLOBAL_STATUS: a node outside the primary
        # component answers the latter with a lock wait timeout.
        rows = conn.fetchall(f"SHOW GLOBAL STATUS LIKE '{name}'", (), "read the cluster state")
        return str(rows[0][1]) if rows else None

    def _galera(self, conn: Any) -> bool:
        """Whether the server is a Galera node (``wsrep_on``; a plain MariaDB reports
        ``wsrep_ready`` OFF, so that alone does not tell)."""
        rows = conn.fetchall("SHOW VARIABLES LIKE 'wsrep_on'", (), "read the cluster state")
        return bool(rows) and str(rows[0][1]).upper() == "ON"

    def writable(self, conn: Any) -> bool:
        """Not ``read_only``, and on a Galera node ready (in the primary component)."""
        if self._galera(conn) and self._wsrep_status(conn, "wsrep_ready") != "ON":
            return False
        return super().writable(conn)

    def replica_lag(self, conn: Any) -> float | None:
        """A Galera node is current when Synced (its reads are made causal by
        ``wsrep_sync_wait``); one in any other state (donor, joining) is of unknown lag.
        Asynchronous replicas report no lag (``SHOW SLAVE STATUS`` is not read) and count as
        current."""
        if not self._galera(conn):
            return 0.0
        state = self._wsrep_status(conn, "wsrep_local_state_comment")
        return 0.0 if state == "Synced" else None

    # (A server without wsrep runs it as a plain SELECT 1.)
    settle_sql: ClassVar[str] = "SET STATEMENT wsrep_sync_wait = 1 FOR SELECT 1"

    def causal_reads_sql(self, level: int) -> str | None:
        # Galera: with 1, a read first waits until this node has applied every write set the
        # cluster had certified when the read began (reads see commits made through any node).
        # A server without wsrep ignores the setting.
        return f"SET SESSION wsrep_sync_wait = {int(level)}"

    def is_connection_error(self, exc: BaseException) -> bool:
        if isinstance(exc, pymysql.err.InterfaceError):
            return True
        if isinstance(exc, pymysql.err.OperationalError | pymysql.err.InternalError):
            code = exc.args[0] if exc.args else None
            return code in _LOST_CODES or code in _NOT_READY_CODES or code in _READ_ONLY_CODES
        return isinstance(exc, ConnectionError | TimeoutError)

    def translate_error(
        self, exc: BaseException, entity_names: dict[str, str], context: str
    ) -> DatabaseError:
        # PyMySQL's errors are (code, server text); any other exception's arguments are not
        # text to show (a UnicodeEncodeError's second one is the whole statement, values and
        # all).
        driver = isinstance(exc, pymysql.err.MySQLError) and len(exc.args) > 1
        code = exc.args[0] if driver else None
        if isinstance(exc, pymysql.err.IntegrityError) or code in (4025, 3819):
            full = str(exc.args[1]) if driver else _first_line(exc)
            return self._integrity(exc, code, full, entity_names, context)
        text = _server_text(exc) if driver else _first_line(exc)
        return self.classified_error(
            exc,
            text,
            context,
            conflict=code in _CONFLICT_CODES,
            missing_table=code == 1146,
            read_only=code in _READ_ONLY_CODES,
            not_ready=code in _NOT_READY_CODES,
        )

    def _integrity(
        self,
        exc: BaseException,
        code: Any,
        text: str,
        entity_names: dict[str, str],
        context: str,
    ) -> DatabaseError:
        table: str | None = None
        column: str | None = None
        constraint: str | None = None
        kind = "integrity"
        if (m := _DUPLICATE.search(text)) is not None:
            kind, constraint = "UNIQUE", m.group(1)
            table = _table_of(constraint, entity_names)
            if constraint == "PRIMARY":
                constraint, kind = None, "PRIMARY KEY"
        elif (m := _FK.search(text)) is not None:
            kind, table, constraint = "FOREIGN KEY", m.group(1), m.group(2)
        elif (m := _NOT_NULL.search(text)) is not None:
            kind, column = "NOT NULL", m.group(1)
        elif (m := _CHECK.search(text)) is not None:
            kind, constraint, table = "CHECK", m.group(1), m.group(2)
        return self.integrity_error(
            exc,
            entity_names,
            context,
            kind=kind,
            table=table,
            column=column,
            constraint=constraint,
        )

    # -- schema ----------------------------------------------------------------------------

    catalog_columns_sql: ClassVar[str] = (
        "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE = 'YES',"
        " c.COLUMN_DEFAULT"
        " FROM information_schema.COLUMNS c JOIN information_schema.TABLES t"
        " ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME"
        " WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'"
        " ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION"
    )
    catalog_autoincrement_sql: ClassVar[str] = (
        "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS"
        " WHERE TABLE_SCHEMA = DATABASE() AND LOCATE('auto_increment', EXTRA) > 0"
    )
    catalog_pk_sql: ClassVar[str] = (
        "SELECT TABLE_NAME, COLUMN_NAME, NULL FROM information_schema.STATISTICS"
        " WHERE TABLE_SCHEMA = DATABASE() AND INDEX_NAME = 'PRIMARY'"
        " ORDER BY TABLE_NAME, SEQ_IN_INDEX"
    )
    # InnoDB makes an index for a foreign key that has none, named after the constraint:
    # it is the server's, not the models', so it is left out.
    catalog_indexes_sql: ClassVar[str] = (
        "SELECT s.TABLE_NAME, s.INDEX_NAME, s.NON_UNIQUE = 0, s.COLUMN_NAME, 0"
        " FROM information_schema.STATISTICS s"
        " WHERE s.TABLE_SCHEMA = DATABASE() AND s.INDEX_NAME <> 'PRIMARY'"
        " AND NOT EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS tc"
        " WHERE tc.TABLE_SCHEMA = s.TABLE_SCHEMA AND tc.TABLE_NAME = s.TABLE_NAME"
        " AND tc.CONSTRAINT_NAME = s.INDEX_NAME AND tc.CONSTRAINT_TYPE = 'FOREIGN KEY')"
        " ORDER BY s.TABLE_NAME, s.INDEX_NAME, s.SEQ_IN_INDEX"
    )
    catalog_fks_sql: ClassVar[str] = (
        "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME,"
        " k.REFERENCED_COLUMN_NAME, LOWER(r.DELETE_RULE)"
        " FROM information_schema.KEY_COLUMN_USAGE k"
        " JOIN information_schema.REFERENTIAL_CONSTRAINTS r"
        " ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME"
        " AND r.TABLE_NAME = k.TABLE_NAME"
        " WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL"
        " ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION"
    )
    catalog_checks_sql: ClassVar[str] = (
        "SELECT TABLE_NAME, CONSTRAINT_NAME FROM information_schema.TABLE_CONSTRAINTS"
        " WHERE TABLE_SCHEMA = DATABASE() AND CONSTRAINT_TYPE = 'CHECK'"
    )
    #: MySQL commits around every DDL statement: progress is recorded statement by statement.
    transactional_ddl: ClassVar[bool] = False
    alter_column_form: ClassVar[str] = "modify"
    autoincrement_modify_suffix: ClassVar[str] = " AUTO_INCREMENT"
    numbering_renumbers_zero: ClassVar[bool] = True
    foreign_key_blocks_type_change: ClassVar[bool] = True
    drop_index_sql: ClassVar[str] = "DROP INDEX {index} ON {table}"
    drop_fk_sql: ClassVar[str] = "ALTER TABLE {table} DROP FOREIGN KEY {name}"
    foreign_key_needs_index: ClassVar[bool] = True
    drop_pk_sql: ClassVar[str] = "ALTER TABLE {table} DROP PRIMARY KEY"
    char_length_fn: ClassVar[str] = "CHAR_LENGTH"
    not_integer_sql: ClassVar[str] = (
        "CAST({c} AS CHAR) NOT REGEXP '^[[:space:]]*[-+]?[0-9]+[[:space:]]*$'"
    )
    lock_try_sql: ClassVar[str] = "SELECT GET_LOCK(CONCAT(%s, DATABASE()), 0)"
    unlock_sql: ClassVar[str] = "SELECT RELEASE_LOCK(CONCAT(%s, DATABASE()))"
    #: On a Galera node ``GET_LOCK`` holds on that node only, so the migration lock is a row
    #: of this table instead: inserting it is replicated and certified cluster-wide (a second
    #: migrator through any node gets a duplicate key). A migrator killed while holding it
    #: leaves the row: ``DELETE FROM ormcli_migrate_lock`` once no migrate runs.
    cluster_lock_table: ClassVar[str] = "ormcli_migrate_lock"

    def try_migration_lock(self, conn: Any, name: str) -> bool:
        if not self._galera(conn):
            return super().try_migration_lock(conn, name)
        # DDL replicated in total order isolation: every node runs it at the same point.
        conn.execute("SET SESSION wsrep_OSU_method = 'TOI'", (), "choose the DDL mode")
        table = self.quote(self.cluster_lock_table)
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (name VARCHAR(100) PRIMARY KEY,"
            " holder VARCHAR(200) NOT NULL, taken DATETIME(6) NOT NULL) ENGINE=InnoDB",
            (),
            "create the migration lock table",
        )
        try:
            conn.execute(
                f"INSERT INTO {table} (name, holder, taken) VALUES (CONCAT(%s, DATABASE()),"
                " CONCAT(@@hostname, ':', CONNECTION_ID()), NOW(6))",
                (name,),
                "take the migration lock",
            )
            conn.raw.commit()
        except DatabaseError:  # the row is there (duplicate key), or certification lost
            conn.raw.rollback()
            return False
        return True

    def release_migration_lock(self, conn: Any, name: str) -> None:
        if not self._galera(conn):
            super().release_migration_lock(conn, name)
            return
        table = self.quote(self.cluster_lock_table)
        conn.execute(
            f"DELETE FROM {table} WHERE name = CONCAT(%s, DATABASE())",
            (name,),
            "release the migration lock",
        )
        conn.raw.commit()

    max_identifier_bytes: ClassVar[int] = 64

    def get_lock_waits(self, conn: Any) -> Any:
        return tuple(
            conn.fetchall(
                "SELECT @@SESSION.lock_wait_timeout, @@SESSION.innodb_lock_wait_timeout",
                (),
                "read the lock wait timeouts",
            )[0]
        )

    def set_lock_waits(self, conn: Any, seconds: float, *, local: bool = False) -> None:
        # Whole seconds: lock_wait_timeout bounds metadata locks (an ALTER behind an open
        # transaction that read the table), innodb_lock_wait_timeout row locks (a backfill).
        whole = max(1, math.ceil(seconds))
        self._lock_waits(conn, (whole, whole))

    def restore_lock_waits(self, conn: Any, saved: Any) -> None:
        if saved is not None:
            self._lock_waits(conn, saved)

    @staticmethod
    def _lock_waits(conn: Any, values: Sequence[Any]) -> None:
        conn.execute(
            "SET SESSION lock_wait_timeout = %s, innodb_lock_wait_timeout = %s",
            tuple(int(v) for v in values),
            "set the lock wait timeouts",
        )

    online_index_sql: ClassVar[str] = (
        "CREATE {unique}INDEX {name} ON {table} ({columns}) ALGORITHM=INPLACE LOCK=NONE"
    )
    online_alter_suffix: ClassVar[str] = ", ALGORITHM=INSTANT"
    lock_levels: ClassVar[dict[str, str]] = {
        "create_table": "none",
        "add_column": "INSTANT (metadata only)",
        "create_index": "INPLACE (writes continue)",
        "create_index_online": "INPLACE, LOCK=NONE",
        "alter_type": "COPY (writes wait; table rebuilt)",
        "set_not_null": "COPY (writes wait; rows checked)",
        "default": "metadata lock, brief",
    }

    def canonical_type(self, declared: str) -> str:
        return _canonical(declared)


def _table_of(constraint: str, entity_names: dict[str, str]) -> str | None:
    """The table a ``uq_<table>_<column>`` constraint belongs to (the longest known match)."""
    best: str | None = None
    for table in entity_names:
        prefix = f"uq_{table}_"
        if constraint.startswith(prefix) and (best is None or len(table) > len(best)):
            best = table
    return best
