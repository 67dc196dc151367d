"""What ``publisher check`` says about the ledger on each database: one line each for the server,
the migration level and the role's rights; one line, never a traceback, for a wrong host,
password or database; and checking writes nothing."""

from __future__ import annotations

import getpass
import importlib.util
import secrets

import pytest
import sqlalchemy as sa

from publisher.errors import StoreError
from publisher.ledger import store
from publisher.ledger.schema import SCHEMA_REVISION
from publisher.ledger.store import database_url, open_store
from tests.fixtures import NOW, PostgresServer, Publication, run_cli, use_database

SECRET = "a-long-random-secret-for-the-pre-flight-1234"


def ledger_lines(publication: Publication) -> tuple[int, list[str], str]:
    result = run_cli("check", root=publication.root, env={"PUBLISHER_SECRET": SECRET})
    # errors (stderr) come first, then warnings, then the lines that describe
    lines = [line for line in result.output.splitlines()
             if line.startswith(("ledger", "warning: ledger"))]
    return result.exit_code, lines, result.output


@pytest.fixture
def role(postgres: PostgresServer):
    """A login role with a password and no rights of its own, reached over TCP (where the
    server asks for a password)."""
    name = f"publisher_role_{secrets.token_hex(3)}"
    password = secrets.token_hex(8)
    postgres._admin(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    yield name, password
    postgres._admin(f"DROP OWNED BY {name}")
    postgres._admin(f"DROP ROLE {name}")


def tcp_url(url: str, user: str) -> str:
    return url.replace("postgresql:///", f"postgresql://{user}@127.0.0.1/")


def test_a_sqlite_ledger_not_yet_created_is_said_so_and_check_creates_nothing(
        publication: Publication):
    code, lines, output = ledger_lines(publication)
    assert code == 0, output
    assert lines == [f"ledger: sqlite:///{publication.root}/.publisher/state.db does not exist "
                     "yet; the first command that needs it creates it"]
    assert not (publication.root / ".publisher").exists()


def test_a_current_ledger_on_each_database(publication: Publication, database: str):
    open_store(publication.config).close()
    code, lines, output = ledger_lines(publication)
    assert code == 0, output
    url = publication.config.state.database
    if database == "sqlite":
        url = f"sqlite:///{publication.root}/.publisher/state.db"
    expected = [f"ledger: {url}: schema {SCHEMA_REVISION} (current)",
                f"ledger: {url}: 0 subscribers, 0 issues (0 sent or being sent)"]
    if database == "postgresql":
        assert lines[0].startswith(f"ledger: {url}: PostgreSQL 1")
        assert lines[1] == f"ledger: {url}: the role {getpass.getuser()} can create tables in " \
                           "schema public"
        lines = lines[2:]
    assert lines == expected


def test_a_ledger_from_a_newer_publisher_is_an_error(publication: Publication, database: str):
    config = publication.config
    open_store(config).close()
    engine = sa.create_engine(database_url(config))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099_future'"))
    engine.dispose()
    code, lines, _ = ledger_lines(publication)
    assert code == 1
    assert any("schema revision 0099_future is unknown: it was written by a newer publisher"
               in line and line.endswith("upgrade publisher") for line in lines), lines


def test_an_empty_postgres_database_is_created_by_the_first_command(
        publication: Publication, postgres: PostgresServer):
    url = postgres.database(migrated=False)
    try:
        use_database(publication, url)
        code, lines, output = ledger_lines(publication)
        assert code == 0, output
        assert lines[-1] == (f"ledger: {url} holds no ledger yet; the first command that "
                             "needs it creates its tables")
        with sa.create_engine(database_url(publication.config)).connect() as conn:
            assert sa.inspect(conn).get_table_names() == []  # check wrote nothing
    finally:
        postgres.drop(url)


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://nobody@127.0.0.1:1/publisher",
     'postgresql://nobody@127.0.0.1:1/publisher: cannot open the ledger: connection to '
     'server at "127.0.0.1", port 1 failed: Connection refused; is the server running, and '
     "are the host and port right?"),
    ("postgresql://u:hunter2@db.example.org/publisher",
     "remove the password from the URL; it is read from the environment as libpq does: "
     "PGPASSWORD, or a ~/.pgpass file (mode 0600)"),
    ("mysql://db.example.org/publisher", "state.database: mysql is not supported"),
    # libpq reads a password from the query string too: refused alike, never printed
    ("postgresql://u@127.0.0.1:1/publisher?password=hunter2",
     "remove the password from the URL"),
])
def test_a_ledger_that_cannot_be_reached_is_one_line_for_every_command(
        publication: Publication, url: str, expected: str):
    use_database(publication, url)
    code, lines, output = ledger_lines(publication)
    assert code == 1 and len(lines) == 1 and expected in lines[0], output
    assert "hunter2" not in output and "Traceback" not in output
    listed = run_cli("subscribers", "list", root=publication.root)
    assert listed.exit_code == 1
    assert listed.stderr.count("\n") == 1 and expected in listed.stderr


def test_a_missing_database_says_how_to_create_it(publication: Publication,
                                                  postgres: PostgresServer):
    use_database(publication, postgres.url("publisher_no_such_database"))
    code, lines, _ = ledger_lines(publication)
    assert code == 1
    assert lines[0].endswith('database "publisher_no_such_database" does not exist; create it '
                             "first: createdb publisher_no_such_database")
    assert len(lines) == 1


def test_a_wrong_or_missing_password_names_where_it_comes_from(
        publication: Publication, postgres: PostgresServer, postgres_url: str, role,
        monkeypatch: pytest.MonkeyPatch):
    name, password = role
    use_database(publication, tcp_url(postgres_url, name))
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    for given, reason in ((None, "no password supplied"),
                          ("wrong", f'password authentication failed for user "{name}"')):
        if given is not None:
            monkeypatch.setenv("PGPASSWORD", given)
        code, lines, output = ledger_lines(publication)
        assert code == 1, output
        assert reason in lines[0], lines
        assert lines[0].endswith("; set PGPASSWORD or add the password to ~/.pgpass (mode 0600)")
    monkeypatch.setenv("PGPASSWORD", password)
    code, lines, output = ledger_lines(publication)
    # right password, but no rights on the ledger's tables: said in one line too
    assert code == 1 and "permission denied for table alembic_version" in lines[0], lines
    assert lines[0].endswith(f"grant the role {name} SELECT, INSERT, UPDATE and DELETE on the "
                             "ledger's tables (and USAGE on their sequences)")


def test_a_role_that_cannot_create_tables_is_an_error_only_where_a_migration_is_due(
        publication: Publication, postgres: PostgresServer, role,
        monkeypatch: pytest.MonkeyPatch):
    import psycopg

    name, password = role
    monkeypatch.setenv("PGPASSWORD", password)
    empty, current = postgres.database(migrated=False), postgres.database()
    try:
        for url in (empty, current):  # as PostgreSQL 15 has it, whatever this server's version
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        with psycopg.connect(current, autocommit=True) as conn:
            conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {name}")
        use_database(publication, tcp_url(current, name))
        code, lines, output = ledger_lines(publication)
        assert code == 0, output
        # a role that may only read a current ledger (CI's) is what it should be: no warning
        assert "warning: ledger" not in output
        assert (f"ledger: {tcp_url(current, name)}: the role {name} does not own the ledger's "
                f"tables ({getpass.getuser()} does): the first command after an upgrade of "
                f"publisher that changes them runs as {getpass.getuser()}") in lines
        path = publication.root / "publisher.toml"
        path.write_text(path.read_text().replace(current.rsplit("/", 1)[1],
                                                 empty.rsplit("/", 1)[1]))
        code, lines, output = ledger_lines(publication)
        assert code == 1, output
        assert f"the role {name} cannot create tables in schema public" in output
        assert "warning: ledger" not in output
        result = run_cli("subscribers", "list", root=publication.root)  # where it migrates
        assert result.exit_code == 1
        assert result.stderr.rstrip().endswith(
            f"permission denied for schema public; the role cannot create the ledger's tables: "
            f"GRANT CREATE ON SCHEMA public TO {name} (or run this command once as a role that "
            "can)"), result.stderr
    finally:
        postgres.drop(empty)
        postgres.drop(current)


def older_ledger(postgres: PostgresServer, *grants: str) -> str:
    """A ledger on PostgreSQL as the publisher before migration 0007 left it (its owner the
    server's admin role), with ``grants`` run on it."""
    import psycopg

    url = postgres.database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE slots DROP COLUMN schedule")
        conn.execute("UPDATE alembic_version SET version_num = '0006'")
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        for grant in grants:
            conn.execute(grant)
    return url


def test_a_role_that_may_not_upgrade_an_older_ledger_says_who_can(
        publication: Publication, postgres: PostgresServer, role,
        monkeypatch: pytest.MonkeyPatch):
    # CI builds with a role that may only read the ledger, and installs the newest publisher
    # before the sending server is upgraded; or a sender's role owns none of the tables. The
    # migration needs the tables' owner: granting CREATE, or more rights on the tables, would
    # not do.
    import psycopg

    name, password = role
    monkeypatch.setenv("PGPASSWORD", password)
    url = older_ledger(postgres, f"GRANT CREATE ON SCHEMA public TO {name}",
                       f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public "
                       f"TO {name}")
    try:
        use_database(publication, tcp_url(url, name))
        shown = tcp_url(url, name)
        for command in (["build"], ["subscribers", "list"]):
            result = run_cli(*command, root=publication.root)
            assert result.exit_code == 1, result.output
            assert result.stderr == (
                f"error: {shown}: the ledger's schema is at revision 0006 and this publisher "
                f"needs {SCHEMA_REVISION}, which only the owner of its tables, "
                f"{getpass.getuser()}, may make (the role {name} may not: must be owner of "
                f"table slots); run this publisher once as {getpass.getuser()} (the sending "
                "server's next run, if it connects so), or run the version of publisher that "
                "the ledger's owner runs\n")
        code, lines, output = ledger_lines(publication)
        assert code == 1, output
        assert (f"ledger: {shown}: the role {name} does not own the ledger's tables "
                f"({getpass.getuser()} does), and the upgrade of schema 0006 to "
                f"{SCHEMA_REVISION} takes their owner: run this publisher once as "
                f"{getpass.getuser()} (the sending server's next run, if it connects so), or "
                "the version of publisher that the ledger's owner runs") in lines, lines
        assert "GRANT CREATE" not in output  # which would not do
        with psycopg.connect(url) as conn:  # left as it was
            assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0006",)
    finally:
        postgres.drop(url)


def test_without_psycopg_one_line_says_what_to_install(publication: Publication,
                                                       monkeypatch: pytest.MonkeyPatch):
    use_database(publication, "postgresql://publisher@db.example.org/publisher")
    real = importlib.util.find_spec
    monkeypatch.setattr(store.importlib.util, "find_spec",
                        lambda name, *a: None if name == "psycopg" else real(name, *a))
    for args in (("check",), ("issue", "list")):
        result = run_cli(*args, root=publication.root)
        assert result.exit_code == 1
        assert ("state.database: PostgreSQL needs the psycopg package; install it with: "
                "pip install 'publisher[postgres]'") in result.stderr


def test_a_ledger_connection_waits_a_minute_at_most_for_a_lock(publication: Publication,
                                                               postgres_url: str):
    # PostgreSQL waits for a lock for ever by default: one transaction left open in psql held
    # every run, on every host, silently (and cron's next runs behind it).
    use_database(publication, postgres_url)
    with open_store(publication.config) as ledger, ledger._engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "1min"


def test_a_transaction_left_open_on_a_table_stops_commands_with_one_line(
        publication: Publication, postgres_url: str, monkeypatch: pytest.MonkeyPatch):
    import psycopg

    use_database(publication, postgres_url)
    open_store(publication.config).close()
    people = publication.root / "people.csv"
    people.write_text("email\nreader@example.net\n")
    # The operator's own lock_timeout (here as libpq's PGOPTIONS) is kept: the test need not
    # wait a minute.
    monkeypatch.setenv("PGOPTIONS", "-c lock_timeout=200ms")
    with psycopg.connect(postgres_url) as psql:
        psql.execute("LOCK TABLE subscribers IN ACCESS EXCLUSIVE MODE")  # and goes to lunch
        for args in (("subscribers", "list"), ("subscribers", "import", str(people))):
            result = run_cli(*args, root=publication.root)
            assert result.exit_code == 1, result.output
            assert result.stderr.count("\n") == 1, result.stderr
            assert result.stderr.startswith(f"error: {postgres_url}: "), result.stderr
            assert ("another session has held a lock the ledger needs for longer than "
                    "lock_timeout") in result.stderr
            assert result.stderr.rstrip().endswith("then run this again")
        code, lines, output = ledger_lines(publication)
        assert code == 1 and "another session has held a lock" in lines[0], output


@pytest.mark.parametrize("timeout", ["1ms", "100ms"])  # opening the ledger; the import
def test_a_statement_past_the_statement_timeout_is_one_line_saying_what_to_raise(
        publication: Publication, postgres_url: str, monkeypatch: pytest.MonkeyPatch,
        timeout: str):
    # An import under the server's statement_timeout ended in the driver's traceback, its
    # context line quoting a reader's address and name; opening the ledger, in a line asking
    # whether the server was running.
    use_database(publication, postgres_url)
    open_store(publication.config).close()
    people = publication.root / "people.csv"
    people.write_text("email,name\n" + "".join(f"reader{i:05d}@example.net,Reader {i}\n"
                                               for i in range(50_000)))
    monkeypatch.setenv("PGOPTIONS", f"-c statement_timeout={timeout}")
    result = run_cli("subscribers", "import", str(people), root=publication.root)
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        f"error: {postgres_url}: a statement took longer than the database's statement_timeout "
        "allows; raise it for publisher's role (ALTER ROLE … SET statement_timeout = '10min'), "
        "then run this again\n")


def test_a_write_the_server_refuses_is_one_line_whatever_the_driver_says(
        publication: Publication, postgres: PostgresServer, request: pytest.FixtureRequest):
    # psycopg's text of an error runs on to the server's DETAIL, HINT and CONTEXT, on lines of
    # their own (and a connection that drops mid-write, to "This probably means…").
    import psycopg

    postgres_url = postgres.database()  # its own: the trigger below is not emptied with rows
    request.addfinalizer(lambda: postgres.drop(postgres_url))
    use_database(publication, postgres_url)
    with open_store(publication.config) as store:
        store.add_subscriber("reader@example.net", now=NOW)
        number = store.create_issue(subject="One", review_ids=("tag:x,2026:a",), now=NOW).number
    with psycopg.connect(postgres_url, autocommit=True) as psql:
        psql.execute("CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION "
                     "'quota exceeded' USING DETAIL = 'the second line', HINT = 'a third'; "
                     "END $$ LANGUAGE plpgsql")
        psql.execute("CREATE TRIGGER refuse BEFORE INSERT ON deliveries "
                     "FOR EACH ROW EXECUTE FUNCTION refuse()")
    with open_store(publication.config) as store, pytest.raises(StoreError) as raised:
        store.queue_deliveries(number, now=NOW)
    assert str(raised.value) == f"{postgres_url}: cannot write the ledger: quota exceeded"
