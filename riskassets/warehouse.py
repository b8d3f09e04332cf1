"""The warehouse: a clickhouse-connect client on chDB (embedded) or a ClickHouse server.

The same SQL runs on both. SQL lives in ``riskassets/sql``; values are bound as server-side
parameters (``{name:Type}``). Identifiers (database, table names) cannot be bound in every
statement ClickHouse has (``CREATE TABLE … AS …`` and ``ALTER … FROM …`` reject them), so
they are validated against a strict pattern and substituted as ``$name`` placeholders.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect
import polars as pl
import pyarrow as pa
from clickhouse_connect.driver.client import Client

IDENTIFIER_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Raw-table partitions are (network, processing_date); an empty day must be able to replace
# (and so clear) a partition, which ClickHouse refuses by default.
_REPLACE_SETTINGS = {"allow_replace_partition_from_empty_source": 1}

# Inserts from Parquet form blocks of 256k rows instead of ~1M: measured on a medium batch's
# money_flows (2M rows) this staged it in 1.3 s instead of 2.3 s with 0.4 GiB less memory.
PARQUET_INSERT_SETTINGS = {"max_insert_block_size": 262144, "min_insert_block_size_rows": 262144}

# How long a process waits for a chDB folder that another process holds (settings.py).
WAIT_SETTING = "RISKASSETS_WAREHOUSE_WAIT_SECONDS"
DEFAULT_WAIT_SECONDS = 120.0

_chdb_lock = threading.Lock()
_chdb_clients: dict[tuple[str, str], Client] = {}


class WarehouseError(RuntimeError):
    pass


def identifier(name: str) -> str:
    if not IDENTIFIER_RE.match(name):
        raise ValueError(
            f"{name!r} is not a valid warehouse identifier (rule: {IDENTIFIER_RE.pattern})"
        )
    return name


SQL_DIR = Path(__file__).parent / "sql"


@cache
def sql_text(name: str) -> str:
    """The text of ``riskassets/sql/{name}.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text()


def render(name: str, **identifiers: str | list[str]) -> str:
    """A SQL file with its ``$identifier`` placeholders filled by validated identifiers.

    A list fills its placeholder with a comma-separated list of identifiers (column lists).
    """
    values = {
        k: ", ".join(map(identifier, v)) if isinstance(v, list) else identifier(v)
        for k, v in identifiers.items()
    }
    return Template(sql_text(name)).substitute(values)


def render_generated(name: str, **fragments: str) -> str:
    """A SQL file with ``${fragment}`` placeholders filled by SQL that the package generates
    (feature lists from riskassets/features/spec.py), never by anything from outside."""
    return Template(sql_text(name)).substitute(fragments)


def ddl_names() -> list[str]:
    """The DDL files in the order their number prefixes give (views after their tables)."""
    return sorted(f"ddl/{path.stem}" for path in (SQL_DIR / "ddl").glob("*.sql"))


@cache
def ddl_statements() -> list[tuple[str, str]]:
    """(file name, statement) of every DDL file, feature columns filled from the spec."""
    from riskassets.features.spec import (
        ALERT_FEATURES,
        CLUSTER_FEATURES,
        column_definitions,
    )

    columns = {
        "alert_feature_columns": column_definitions(ALERT_FEATURES),
        "cluster_feature_columns": column_definitions(CLUSTER_FEATURES),
    }
    return [(name, render_generated(name, **columns)) for name in ddl_names()]


# Tables whose rows the assets can rebuild from the raw tables: when their DDL changes (a new
# feature list, say), the migration drops and recreates them and forgets their partitions, so
# that nothing reads rows of the old shape and the missing partitions are named.
REBUILDABLE = {
    "alert_features",
    "cluster_features",
    "training_alerts",
    "training_clusters",
    "training_labels",
    "training_origins",
    "alert_scores",
    "alert_rankings",
    "cluster_scores",
    "batch_metadata",
    "model_versions",
    "realised_performance",
}
_CREATED = re.compile(r"CREATE\s+(TABLE|(?:OR\s+REPLACE\s+)?VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)")
_ALTERED = re.compile(r"ALTER\s+TABLE\s+(\w+)")


@dataclass(frozen=True)
class WarehouseTarget:
    kind: str  # "chdb" or "http"
    location: str  # chDB folder, or the server URL

    @classmethod
    def parse(cls, url: str) -> WarehouseTarget:
        """``chdb:///abs/folder``, ``chdb:relative/folder``, a bare folder, or ``http(s)://…``."""
        if url.startswith(("http://", "https://")):
            return cls("http", url)
        if url.startswith("chdb:"):
            path = url.removeprefix("chdb:")
            path = path.removeprefix("//") if path.startswith("///") else path
            return cls("chdb", str(Path(path).resolve()))
        if "://" in url:
            raise ValueError(
                f"warehouse URL {url!r}: expected a chDB folder (chdb:PATH) or http(s)://host:port"
            )
        return cls("chdb", str(Path(url).resolve()))


def connect(
    url: str,
    database: str,
    password: str | None = None,
    *,
    read_only: bool = False,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
    on_wait: Callable[[str], None] | None = None,
) -> Client:
    """A client on ``database``.

    Read-write (the pipeline): the database is created if missing and the DDL applied.
    Read-only (operator commands): nothing is created or migrated, and every query runs with
    ClickHouse's ``readonly`` setting, so no statement can write, drop or truncate.

    chDB allows one data folder per process and one process per folder, so embedded clients
    are shared per process; a folder held by another process is waited for up to
    ``wait_seconds`` (``on_wait`` hears who holds it), then WarehouseBusyError.
    """
    target = WarehouseTarget.parse(url)
    database = identifier(database)
    if target.kind == "http":
        parsed = urlparse(target.location)
        client = clickhouse_connect.get_client(
            host=parsed.hostname,
            port=parsed.port or (8443 if parsed.scheme == "https" else 8123),
            secure=parsed.scheme == "https",
            username=parsed.username or "default",
            password=password or parsed.password or "",
            # readonly=2: no writes, but the client may still set its own query settings.
            settings={"readonly": 2} if read_only else None,
        )
    else:
        client = _chdb_client(target.location, database, wait_seconds, on_wait)
    if read_only:
        if not client.command(f"EXISTS DATABASE {database}"):  # validated above
            raise WarehouseError(
                f"the warehouse {url} has no database {database!r} yet: materialise "
                "something first (make demo)"
            )
        client.database = database
        return ReadOnlyClient(client) if target.kind == "chdb" else client
    # Identifiers cannot be bound here; `database` was validated above.
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    client.database = database
    apply_ddl(client)
    return client


class ReadOnlyClient:
    """A chDB client whose every query carries ``readonly=1`` (an embedded engine's session
    settings are the process's, so they are set per query instead)."""

    _READONLY = {"readonly": 1}

    def __init__(self, client: Client):
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def query(self, query: str, parameters: Any = None, settings: Any = None, **kw: Any) -> Any:
        return self._client.query(query, parameters, {**(settings or {}), **self._READONLY}, **kw)

    def query_arrow(self, query: str, parameters: Any = None, settings: Any = None, **kw: Any):
        return self._client.query_arrow(
            query, parameters, {**(settings or {}), **self._READONLY}, **kw
        )

    def command(self, cmd: str, parameters: Any = None, data: Any = None, settings: Any = None):
        return self._client.command(cmd, parameters, data, {**(settings or {}), **self._READONLY})

    def insert_arrow(self, *args: Any, **kwargs: Any) -> Any:
        raise WarehouseError("this client is read-only")


READ_STATEMENTS = ("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS")
_LEADING = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*", re.DOTALL)


class ReadOnlyError(WarehouseError):
    pass


def require_read_statement(query: str) -> None:
    """Refuse, before it runs, a statement that could change the warehouse: the operator
    console reads only (the engine's ``readonly`` setting backs this up)."""
    text = _LEADING.sub("", query, count=1)
    word = re.match(r"[A-Za-z]*", text).group(0).upper()
    if re.search(r"\bINTO\s+OUTFILE\b", text, re.IGNORECASE):
        word = f"{word} … INTO OUTFILE"  # writes a file wherever the engine runs
    elif word in READ_STATEMENTS:
        return
    raise ReadOnlyError(
        f"refused, nothing was run: {word or repr(text[:20])} is not a read-only statement; "
        f"the console runs {', '.join(READ_STATEMENTS)} only (writes go through the pipeline)"
    )


class WarehouseBusyError(WarehouseError):
    """The embedded engine's folder is held by another process: a passing state (retry)."""


def folder_holder(folder: str) -> str | None:
    """Who holds the chDB folder (its status file's PID and start time), or None if free.

    The engine holds an exclusive ``flock`` on ``status`` while it runs; testing for it here
    avoids the engine's own failed start, which prints a stack trace on every attempt.
    """
    path = Path(folder) / "status"
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fields = dict(line.split(": ", 1) for line in path.read_text().splitlines() if ": " in line)
        return f"process {fields.get('PID', '?')} (since {fields.get('Started at', '?')})"
    finally:
        os.close(fd)  # closing releases the test lock too
    return None


def _chdb_client(
    folder: str,
    database: str,
    wait_seconds: float,
    on_wait: Callable[[str], None] | None,
) -> Client:
    # One client per database (clients on one folder share the engine; each keeps its own
    # current database, so tests can isolate by database inside one folder).
    with _chdb_lock:
        if (folder, database) in _chdb_clients:
            return _chdb_clients[folder, database]
        other = next((f for f, _ in _chdb_clients if f != folder), None)
        if other:
            raise WarehouseError(
                f"this process already uses the chDB folder {other}; chDB cannot open a second "
                f"folder ({folder}) in the same process"
            )
        if not any(f == folder for f, _ in _chdb_clients):
            _wait_for_folder(folder, wait_seconds, on_wait)
        Path(folder).mkdir(parents=True, exist_ok=True)
        try:
            client = clickhouse_connect.get_client(interface="chdb", path=folder)
        except Exception as e:  # the engine's own message names the lock file
            raise WarehouseError(
                f"cannot open the chDB folder {folder}: {e}. chDB allows one process per data "
                "folder: stop the other process (a running `dagster dev` run, another CLI) "
                "or point RISKASSETS_WAREHOUSE_URL elsewhere"
            ) from e
        _chdb_clients[folder, database] = client
        return client


def _wait_for_folder(
    folder: str, wait_seconds: float, on_wait: Callable[[str], None] | None
) -> None:
    """Wait while another process holds the folder (an operator's query, another run)."""
    started = time.monotonic()
    holder = folder_holder(folder)
    if holder and on_wait:
        on_wait(
            f"the chDB folder {folder} is held by {holder}; waiting up to {wait_seconds:.0f} s "
            f"({WAIT_SETTING})"
        )
    while holder:
        waited = time.monotonic() - started
        if waited >= wait_seconds:
            raise WarehouseBusyError(
                f"the chDB folder {folder} is held by {holder}; gave up after {waited:.0f} s "
                f"({WAIT_SETTING}={wait_seconds:g}). chDB allows one process per folder: let "
                "the other process finish (a run, `riskassets sql`), or stop it"
            )
        time.sleep(min(1.0, wait_seconds - waited))
        holder = folder_holder(folder)
    if on_wait and time.monotonic() - started > 0.5:
        on_wait(f"the chDB folder {folder} is free after {time.monotonic() - started:.0f} s")


def apply_ddl(client: Client) -> None:
    """Bring the client's database to the schema of ``riskassets/sql/ddl``.

    Each statement is recorded in ``schema_migrations`` with the digest of its text and runs
    again only when that changed. A changed rebuildable table is dropped and created anew
    (its partitions are forgotten: materialise them again); a changed raw table stops here
    with an error, since its rows cannot be rebuilt and need a migration of their own.

    A change in place is an ALTER file of its own, sorted after its table's (it must be
    idempotent); it runs again whenever its table is created anew here, since a rebuilt table
    has the shape of its CREATE statement only.
    """
    statements = ddl_statements()
    client.command(statements[0][1])  # schema_migrations itself
    applied = dict(
        client.query(
            "SELECT name, argMax(digest, applied_at) FROM schema_migrations GROUP BY name"
        ).result_rows
    )
    created_here: set[str] = set()
    for name, text in statements[1:]:
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        created = _CREATED.search(text)  # None: an ALTER, applied once, idempotent
        altered = _ALTERED.search(text)
        kind, obj = created.groups() if created else ("ALTER", altered.group(1) if altered else "")
        if applied.get(name) == digest and not (kind == "ALTER" and obj in created_here):
            continue
        exists = kind == "TABLE" and client.command(
            f"EXISTS TABLE {identifier(obj)}"
        )  # the identifier comes from the package's own DDL
        if exists and obj in REBUILDABLE:
            client.command(render("drop_table", table=obj))
            client.command(sql_text("partition_log_forget"), parameters={"table_name": obj})
        elif exists and name in applied:
            raise WarehouseError(
                f"the DDL of {obj} ({name}.sql) changed since it was applied; its rows cannot "
                "be rebuilt from elsewhere, so it needs a migration of its own"
            )
        client.command(text)
        if kind == "TABLE":
            created_here.add(obj)
        client.command(
            "INSERT INTO schema_migrations VALUES ({name:String}, {digest:String}, now64(3))",
            parameters={"name": name, "digest": digest},
        )


def replace_partitions(
    client: Client,
    network: str,
    processing_date: Any,
    group: str,
    frames: dict[str, pa.Table],
    token: str | None = None,
) -> str:
    """Make each of ``frames`` (table → rows) the whole (network, processing_date) partition
    of its table, all together or not at all (riskassets/commits.py): readers see either the
    old or the new content of every table, never a mix, and a failed insert changes nothing.
    """
    from riskassets import commits

    staged = [
        commits.Staged(
            table, stage_partition(client, table, network, processing_date, rows), rows.num_rows
        )
        for table, rows in frames.items()
    ]
    return commits.commit(client, network, processing_date, group, staged, token)


def staging_stamp(network: str, processing_date: Any) -> str:
    """The part of a staging table's name that names its day (sweeps match on it)."""
    return f"_{network.replace('-', '_')}_{processing_date:%Y%m%d}_"


def staging_name(table: str, network: str, processing_date: Any) -> str:
    """A new staging table's name: unique per write, so that cleaning up after one write
    (or a killed one) never drops another write's staging table of the same day."""
    stamp = staging_stamp(network, processing_date)
    return identifier(f"_stage_{table}{stamp}{uuid.uuid4().hex[:8]}")


def embedded(client: Client) -> bool:
    """Whether ``client`` runs on chDB in this process (and so shares its filesystem)."""
    return any(client is c for c in _chdb_clients.values())


def release_memory(client: Client) -> None:
    """Hand the memory the embedded engine freed back to the system (its allocator keeps
    freed pages for reuse, so a large read would otherwise stay resident in the process
    that trains). A server's memory is its own: nothing to do there."""
    if embedded(client):
        client.command("SYSTEM JEMALLOC PURGE")


def _new_staging(client: Client, table: str, network: str, processing_date: Any) -> str:
    staging = staging_name(table, network, processing_date)
    client.command(render("create_staging", staging=staging, table=identifier(table)))
    return staging


def stage_partition(
    client: Client, table: str, network: str, processing_date: Any, rows: pa.Table
) -> str:
    staging = _new_staging(client, table, network, processing_date)
    if rows.num_rows:
        client.insert_arrow(staging, rows)
    return staging


def stage_parquet(
    client: Client,
    table: str,
    network: str,
    processing_date: Any,
    path: str,
    columns: list[str],
) -> str:
    """Stage ``columns`` of the Parquet file at ``path`` with the engine's own reader.

    Embedded engine only: a ClickHouse server would look for ``path`` on its own disk.
    """
    if not embedded(client):
        raise WarehouseError("stage_parquet reads a local file: only the embedded engine can")
    staging = _new_staging(client, table, network, processing_date)
    client.command(
        render("stage_from_parquet", staging=staging, columns=columns),
        parameters={"network": network, "path": path},
        settings=PARQUET_INSERT_SETTINGS,
    )
    return staging


def check_staged(
    client: Client, table: str, staging: str, network: str, processing_date: Any, rows: int
) -> None:
    """Raise unless the staging table holds exactly ``rows`` rows, all in the partition
    (network, date) that will be swapped."""
    params = {"network": network, "processing_date": processing_date}
    staged_rows = render("staged_rows", staging=staging, date_column=_date_column(client, table))
    total, in_partition = client.query(staged_rows, parameters=params).result_rows[0]
    if total != rows or in_partition != rows:
        raise WarehouseError(
            f"{table}: staged {total} row(s), {in_partition} of them in partition "
            f"({network}, {processing_date}); expected {rows}"
        )


def _date_column(client: Client, table: str) -> str:
    """The date column of a (network, date) partition key (tables are partitioned so)."""
    ((key,),) = client.query(sql_text("partition_key"), parameters={"table": table}).result_rows
    columns = [c.strip() for c in key.strip("()").split(",")]
    if len(columns) != 2 or columns[0] != "network":
        raise WarehouseError(f"{table}: partition key {key!r} is not (network, date)")
    return identifier(columns[1])


def swap_partition(
    client: Client, table: str, staging: str, network: str, processing_date: Any
) -> None:
    """Replace the partition of ``table`` with the staging table's; the staging table stays
    (its rows are copied), so the swap can be repeated."""
    client.command(
        render("replace_partition", table=identifier(table), staging=identifier(staging)),
        parameters={"network": network, "processing_date": processing_date},
        settings=_REPLACE_SETTINGS,
    )


def log_partition(
    client: Client, table: str, network: str, processing_date: Any, rows: int, token: str
) -> None:
    client.command(
        sql_text("partition_log_insert"),
        parameters={
            "network": network,
            "processing_date": processing_date,
            "table_name": table,
            "rows": rows,
            "token": token,
        },
    )


def missing_partitions(client: Client, network: str, table: str, dates: list[Any]) -> list[Any]:
    """Those of ``dates`` for which no partition of ``table`` was ever written."""
    rows = client.query(
        sql_text("partition_log_missing"),
        parameters={"network": network, "table_name": table, "dates": list(dates)},
    ).result_rows
    return [d for (d,) in rows]


def query_frame(client: Client, name: str, rechunk: bool = True, **parameters: Any) -> pl.DataFrame:
    """The result of ``riskassets/sql/{name}.sql`` as a polars frame; ``rechunk=False`` keeps
    the engine's record batches as they came (no second copy of a large result)."""
    return frame_of(client.query_arrow(sql_text(name), parameters=parameters), rechunk)


def query_frame_rendered(
    client: Client, name: str, identifiers: dict[str, str], **parameters: Any
) -> pl.DataFrame:
    """Like query_frame, for a file with ``$identifier`` placeholders."""
    return frame_of(client.query_arrow(render(name, **identifiers), parameters=parameters))


def frame_of(table: pa.Table, rechunk: bool = True) -> pl.DataFrame:
    frame = pl.from_arrow(table, rechunk=rechunk)
    assert isinstance(frame, pl.DataFrame)
    return frame


def drop_staging(client: Client, staging: str) -> None:
    client.command(render("drop_table", table=identifier(staging)))
