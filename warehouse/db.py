"""Connect to the DuckDB warehouse, apply numbered migrations, run named .sql files."""
from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import duckdb

SCHEMA_DIR = Path(__file__).with_name("schema")
SQL_DIR = Path(__file__).with_name("sql")


def connect(path: Path | str) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the warehouse file and bring its schema up to date."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), config={"autoinstall_known_extensions": False,
                                                 "autoload_known_extensions": False})
    except duckdb.IOException as e:
        if "lock" in str(e).lower():
            raise WarehouseBusy(path) from e
        raise
    migrate(con)
    return con


class WarehouseBusy(RuntimeError):
    """The warehouse file is locked by another process (a monthly run holds the write lock)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"数据仓库 {path} 正被另一进程（通常是正在运行的月度任务）占用写锁，暂时无法读取。"
                         f"请待该任务结束后重试（可用 `ps` 查看 jixiao run 是否仍在运行）。")
        self.path = path


class WarehouseMissing(RuntimeError):
    """No warehouse file yet (nothing was ever run)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"尚无数据仓库 {path}：请先运行 `jixiao run --period YYYY-MM --inbox 目录`（或 `make demo`）。")
        self.path = path


def connect_read_only(path: Path | str) -> duckdb.DuckDBPyConnection:
    """Open an existing warehouse read-only (check, explain, diff): never migrates, never creates the file.

    Raises WarehouseMissing when there is no file and WarehouseBusy when another process holds the write lock, so a
    command can say so plainly instead of printing DuckDB's lock trace.
    """
    path = Path(path)
    if not path.is_file():
        raise WarehouseMissing(path)
    try:
        return duckdb.connect(str(path), read_only=True, config={"autoinstall_known_extensions": False,
                                                                 "autoload_known_extensions": False})
    except duckdb.IOException as e:
        if "lock" in str(e).lower():
            raise WarehouseBusy(path) from e
        raise


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply schema/NNN_*.sql files not yet recorded in schema_migrations; return those applied."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR PRIMARY KEY)")
    done = {r[0] for r in con.execute("SELECT name FROM schema_migrations").fetchall()}
    applied = []
    for f in sorted(SCHEMA_DIR.glob("[0-9][0-9][0-9]_*.sql")):
        if f.name in done:
            continue
        with transaction(con):
            con.execute(f.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_migrations VALUES (?)", [f.name])
        applied.append(f.name)
    return applied


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All-or-nothing block: commit on success, roll back on any exception (which propagates)."""
    con.execute("BEGIN")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def sql_text(name: str) -> str:
    """The text of warehouse/sql/<name>.sql."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def run_sql(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> list[tuple]:
    """Execute a named .sql file with $named parameters and return all rows (drained at once)."""
    cur = con.execute(sql_text(name), params or None)
    try:
        return cur.fetchall()
    except duckdb.InvalidInputException:  # statement returned no result set
        return []


def run_sql_script(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> None:
    """Execute a named .sql file of several statements (each ending with ';' at a line end), passing each
    statement the $named parameters it uses (DuckDB binds parameters of a single statement only)."""
    text = "\n".join(line for line in sql_text(name).splitlines() if not line.lstrip().startswith("--"))
    for stmt in (s.strip() for s in re.split(r";\s*\n", text + "\n")):
        if stmt:
            used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", stmt)}
            con.execute(stmt, used or None)


def query_df(con: duckdb.DuckDBPyConnection, name: str, **params: Any):
    """Execute a named .sql file and return a pandas DataFrame."""
    return con.execute(sql_text(name), params or None).df()


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> int:
    """Bulk-insert dict rows through one DataFrame scan (executemany runs ~1k rows/s on DuckDB 2.0).

    Decimals travel as text and are cast by the target column, so no precision is lost on the way.
    """
    import pandas as pd
    from decimal import Decimal

    if not rows:
        return 0
    cols = list(rows[0])
    frame = pd.DataFrame([[str(r[c]) if isinstance(r[c], Decimal) else r[c] for c in cols] for r in rows],
                         columns=cols, dtype=object)
    name = f"_bulk_{table}"
    con.register(name, frame)
    try:
        col_list = ", ".join(cols)
        con.execute(f"INSERT INTO {table} ({col_list}) SELECT {col_list} FROM {name}")  # names are ours, not data
    finally:
        con.unregister(name)
    return len(rows)
