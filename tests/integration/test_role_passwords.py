"""`trainbridge migrate` sets the service roles' passwords as SCRAM-SHA-256 verifiers it
computes itself: the password never reaches PostgreSQL, and the verifier is the one
PostgreSQL would have computed (so a login with the password works)."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from eventlog import migrate, scram
from tests.ports import free_port

PASSWORDS = ["plain-Password-1", "pässwörd mit Ümlaut", "nbsp\u00a0and\u00adsoft-hyphen",
             "\uff46\uff55\uff4c\uff4c-width (NFKC folds it)", "'; DROP ROLE x; --"]


async def postgres_verifier(sql: asyncpg.Connection, password: str) -> str:
    """What PostgreSQL itself stores for ``password`` (on a throwaway role)."""
    role = f"tb_cfg_scram_{uuid.uuid4().hex[:8]}"
    await sql.execute(f"CREATE ROLE {role} NOLOGIN")
    try:
        await sql.execute("SET password_encryption = 'scram-sha-256'")
        literal = await sql.fetchval("SELECT quote_literal($1::text)", password)
        await sql.execute(f"ALTER ROLE {role} PASSWORD {literal}")
        stored: str = await sql.fetchval(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role)
        return stored
    finally:
        await sql.execute(f"DROP ROLE {role}")


@pytest.mark.parametrize("password", PASSWORDS)
async def test_the_verifier_is_the_one_postgresql_computes(
    sql: asyncpg.Connection, password: str,
) -> None:
    theirs = await postgres_verifier(sql, password)

    assert scram.matches(theirs, password)  # same salt and iterations: byte for byte
    assert not scram.matches(theirs, password + "x")


async def test_migrate_sends_only_the_verifier_and_the_role_accepts_the_password(
    database_url: str, sql: asyncpg.Connection,
) -> None:
    password = f"ingest-pw-{uuid.uuid4().hex[:8]}"
    statement = migrate.login_statement("trainbridge_ingest", password)
    assert password not in statement
    assert statement.startswith("ALTER ROLE trainbridge_ingest WITH LOGIN PASSWORD "
                                "'SCRAM-SHA-256$4096:")

    await asyncio.to_thread(migrate.grant_logins, database_url, {"ingest": password})

    stored = await sql.fetchval(
        "SELECT rolpassword FROM pg_authid WHERE rolname = 'trainbridge_ingest'")
    assert stored.startswith("SCRAM-SHA-256$4096:")
    assert scram.matches(stored, password)
    assert await sql.fetchval(
        "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'trainbridge_ingest'")


@dataclass(frozen=True)
class Cluster:
    """A private PostgreSQL that demands SCRAM passwords and logs every statement."""
    owner_url: str
    log: Path

    def url(self, user: str, password: str, database: str = "trainbridge") -> str:
        return self.owner_url.replace("owner:owner-pw-cfg@", f"{user}:{password}@").replace(
            "/postgres", f"/{database}")


def _as_postgres(*argv: str) -> list[str]:
    """The shared test server trusts local logins, so a password proves nothing there; this
    cluster is the test's own. PostgreSQL refuses to run as root: run it as `postgres`."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.getuid() == 0 else list(argv)


@pytest.fixture
def scram_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    initdb = shutil.which("initdb") or next(iter(glob.glob("/usr/lib/postgresql/*/bin/initdb")),
                                            None)
    if initdb is None:
        pytest.skip("initdb is not installed: cannot start a cluster with password logins")
    pg_ctl = str(Path(initdb).with_name("pg_ctl"))
    home = Path(tempfile.mkdtemp(prefix="tb-cfg-scram-"))
    (home / "pw").write_text("owner-pw-cfg\n")
    if os.getuid() == 0:
        shutil.chown(home, "postgres")
        shutil.chown(home / "pw", "postgres")
    port = free_port()
    subprocess.run(_as_postgres(initdb, "-D", str(home / "data"), "-U", "owner",
                                f"--pwfile={home / 'pw'}", "--auth=scram-sha-256", "-E", "UTF8"),
                   check=True, capture_output=True)
    log = home / "server.log"
    subprocess.run(_as_postgres(pg_ctl, "-D", str(home / "data"), "-l", str(log), "-w", "-o",
                                f"-p {port} -k {home} -c listen_addresses=127.0.0.1 "
                                "-c log_statement=all", "start"),
                   check=True, capture_output=True)
    try:
        yield Cluster(f"postgresql://owner:owner-pw-cfg@127.0.0.1:{port}/postgres", log)
    finally:
        subprocess.run(_as_postgres(pg_ctl, "-D", str(home / "data"), "-m", "immediate",
                                    "stop"), capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def run_trainbridge(*argv: str, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trainbridge", *argv],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environ},
        capture_output=True, text=True, timeout=120)


def test_a_service_role_logs_in_with_its_password_which_never_reaches_the_server(
    scram_cluster: Cluster,
) -> None:
    password = "ingest-Pässword-zz81"
    migrated = run_trainbridge(
        "migrate", TRAINBRIDGE_DATABASE_URL=scram_cluster.url("owner", "owner-pw-cfg"),
        TRAINBRIDGE_INGEST_DATABASE_PASSWORD=password)
    assert migrated.returncode == 0, migrated.stderr

    async def log_in(secret: str) -> str:
        connection = await asyncpg.connect(scram_cluster.url("trainbridge_ingest", "x"),
                                           password=secret)
        try:
            user: str = await connection.fetchval("SELECT current_user")
            return user
        finally:
            await connection.close()

    assert asyncio.run(log_in(password)) == "trainbridge_ingest"
    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(log_in("not-" + password))
    server_log = scram_cluster.log.read_text()
    assert "ALTER ROLE trainbridge_ingest WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:" in server_log
    assert password not in server_log
    assert password not in migrated.stderr + migrated.stdout


def test_a_refused_password_is_one_line_naming_the_setting(scram_cluster: Cluster) -> None:
    url = scram_cluster.url("owner", "wrong-pw-zz")

    for command in ("migrate", "runs"):
        result = run_trainbridge(command, TRAINBRIDGE_DATABASE_URL=url)

        assert result.returncode == 2
        last = result.stderr.splitlines()[-1]
        assert "Traceback" not in result.stderr
        assert last.startswith("trainbridge: configuration error: TRAINBRIDGE_DATABASE_URL="
                               "postgresql://owner:***@127.0.0.1:")
        assert 'PostgreSQL refused the password (password authentication failed for user ' \
               '"owner")' in last
        assert "wrong-pw-zz" not in result.stderr
