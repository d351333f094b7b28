"""A new user's first hour, scripted: every command's help, the bad inputs people type, and the
README's lab commands (up, status, down, up again, reset). Whatever goes wrong must end as one
line on stderr beginning with ``error:`` and a non-zero exit code: never a traceback, never an
error on stdout (which may be a data stream)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from orchestrator.cli import main

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "plans" / "sample-app.yaml"


def drkit(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "COLUMNS": "100", **(env or {})}
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    where = f"\nstdout: {proc.stdout[-500:]}\nstderr: {proc.stderr[-1500:]}"
    assert proc.returncode not in (0, 70), f"exit {proc.returncode}{where}"
    assert "Traceback" not in proc.stdout + proc.stderr, where
    assert proc.stdout == "", where
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), where
    for word in words:
        assert word in lines[0], where


def _commands(group: click.Group, path: list[str]):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield [*path, name]
        if isinstance(command, click.Group):
            yield from _commands(command, [*path, name])


COMMANDS = [[], *_commands(main, [])]


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "drkit")
def test_every_help_reads_without_error(path: list[str]):
    result = drkit(*path, "--help")
    assert result.returncode == 0 and "Usage: drkit" in result.stdout, result.stderr
    assert result.stderr == ""


def _bad_inputs(tmp: Path) -> list[tuple[list[str], tuple[str, ...]]]:
    (tmp / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    (tmp / "list.json").write_text("[1, 2]")
    (tmp / "sites.json").write_text('{"sites": 5}')
    (tmp / "broken.json").write_text("{not json")
    (tmp / "div.yaml").write_text(SAMPLE.read_text().replace("name: db1", "name: '{{ 1/0 }}'"))
    (tmp / "dup.yaml").write_text(SAMPLE.read_text() + "name: again\n")
    (tmp / "esc.yaml").write_text(SAMPLE.read_text().replace(
        "name: sample-app", 'name: "../../escaped"'))
    (tmp / "big.yaml").write_text(SAMPLE.read_text().replace(
        "name: db1", "name: '{{ range(10**9)|list|length }}'"))
    (tmp / "dir").mkdir()
    (tmp / "empty-name.yaml").write_text(SAMPLE.read_text().replace(
        "name: sample-app", 'name: ""'))
    (tmp / "down.yaml").write_text(SAMPLE.read_text().replace(
        "http://127.0.0.1:18989/sdk", "http://127.0.0.1:1/sdk").replace(
        "http://127.0.0.1:18990/sdk", "http://127.0.0.1:2/sdk").replace(
        "file: /etc/drkit/nss-a.token", f"file: {tmp / 'list.json'}").replace(
        "file: /etc/drkit/nss-b.token", f"file: {tmp / 'list.json'}"))
    plan = str(SAMPLE)
    return [
        (["plan", "validate", str(tmp / "latin1.yaml")], ("not UTF-8",)),
        (["plan", "validate", plan, "--vars", str(tmp / "latin1.yaml")], ("not UTF-8",)),
        (["plan", "validate", plan, "--inventory", str(tmp / "latin1.yaml")], ("not UTF-8",)),
        (["plan", "validate", plan, "--inventory", str(tmp / "list.json")], ("a list",)),
        (["plan", "validate", plan, "--inventory", str(tmp / "sites.json")], ("sites",)),
        (["plan", "validate", plan, "--inventory", str(tmp / "broken.json")], ("broken.json",)),
        (["plan", "validate", str(tmp / "div.yaml")], ("division by zero", "div.yaml")),
        (["plan", "validate", str(tmp / "big.yaml")], ("template limit",)),
        (["run", str(tmp / "dup.yaml"), "--mode", "test"], ("duplicate key 'name'",)),
        (["run", str(tmp / "empty-name.yaml"), "--mode", "test"],
         ("name: expected a non-empty string, got an empty string",)),
        (["protect", str(tmp / "down.yaml")], ("vCenter http://127.0.0.1:", "unreachable")),
        (["run", plan, "--mode", "test", "--var", "foo"], ("--var 'foo'",)),
        (["run", plan, "--mode", "test", "--vars", str(tmp / "list.json")], ("mapping",)),
        (["runbook", plan, "-o", str(tmp / "missing" / "runbook.md")], ("missing",)),
        (["runs", "report", "no-such-run", "-o", str(tmp / "missing" / "r.html")],
         ("no run 'no-such-run'",)),
        (["runs", "resume", "no-such-run"], ("no run 'no-such-run'",)),
        (["protect", plan, "--var", "foo"], ("--var 'foo'",)),
        (["trials", "--rate", "-1"], ("--rate",)),
        (["trials", "--appliance-url", "http://127.0.0.1:1"], ("--appliance-token-file",)),
        (["demo", "--boot-delay", "-1"], ("--boot-delay",)),
        (["nss", "serve", "--name", "a", "--data", str(tmp / "d"), "--port", "99999"],
         ("--port",)),
        (["nss", "serve", "--name", "a", "--data", str(tmp / "list.json"), "--insecure",
          "--token-file", str(tmp / "t")], ("is a file",)),
        (["nss", "--url", "http://127.0.0.1:1", "--token-file", str(tmp / "dir"), "luns"],
         ("token file", "directory")),
        (["nss", "--url", "http://127.0.0.1:1", "--token-file", str(tmp / "nope"), "luns"],
         ("token file", "No such file")),
        (["sim", "status", "--dir", str(tmp / "nolab")], ("no lab",)),
    ]


def test_bad_input_is_one_clear_line(tmp_path: Path):
    env = {"DRKIT_RUNS_DIR": str(tmp_path / "runs"), "DRKIT_STATE_DIR": str(tmp_path / "st"),
           "DRKIT_LAB_DIR": str(tmp_path / "nolab"), "DRKIT_NSS_TOKEN": "",
           "DRKIT_VC_A_PASSWORD": "a-password", "DRKIT_VC_B_PASSWORD": "b-password"}
    failures = []
    for args, words in _bad_inputs(tmp_path):
        proc = drkit(*args, env=env, cwd=tmp_path)
        try:
            assert_one_line_error(proc, *words)
        except AssertionError as exc:
            failures.append(f"drkit {' '.join(args)}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert not (tmp_path.parent / "escaped").exists()


def test_appliance_bad_input_changes_nothing(appliance, tmp_path: Path):
    env = {"DRKIT_NSS_URL": appliance.url, "DRKIT_NSS_TOKEN": appliance.token}
    lun = appliance.client.create_lun("vol", 1 << 20)
    for args, words in [
        (["read", lun["id"], str(tmp_path / "x"), "--length", "-5"], ("--length",)),
        (["read", lun["id"], str(tmp_path / "x"), "--offset", str(4 << 20)],
         ("out-of-range", "past the end")),
        (["read", lun["id"], str(tmp_path / "missing" / "x")], ("does not exist",)),
        (["create-lun", "x", "--", "-5"], ("more than 0",)),
        (["backup", "snap-missing", "-"], ("snapshot-not-found",)),
    ]:
        assert_one_line_error(drkit("nss", *args, env=env, cwd=tmp_path), *words)
    assert [x["name"] for x in appliance.client.list_luns()] == ["vol"]
    snap = appliance.client.create_snapshot(lun["id"])
    mine = appliance.client.create_timeview(snap["id"], name="my-view", writable=False)
    done = drkit("nss", "backup", snap["id"], str(tmp_path / "b.img"), env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr  # the backup's own TimeView never collides ...
    assert [x["id"] for x in appliance.client.list_luns(role="timeview")] == [mine["id"]]
    assert not (tmp_path / "x").exists()
    html = drkit("nss", "--url", f"http://127.0.0.1:{_plain_http(tmp_path)}", "luns",
                 env={"DRKIT_NSS_TOKEN": "first-hour-token"}, cwd=tmp_path)
    assert_one_line_error(html, "http-error", "not an appliance answer")


def _plain_http(tmp: Path) -> int:
    """A web server that is not an appliance (answers its own 404 page)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                             "127.0.0.1"], cwd=tmp, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _STARTED.append(proc)
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return port
        __import__("time").sleep(0.05)
    raise AssertionError("http.server did not start")


_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _stop_started():
    yield
    for proc in _STARTED:
        proc.kill()
        proc.wait()
    _STARTED.clear()


def test_serve_reports_its_address_and_refuses_a_second_on_its_data(tmp_path: Path):
    env = {"DRKIT_NSS_TOKEN": ""}
    token = tmp_path / "tokens" / "api.token"  # created (0600) when missing, as its help says
    cmd = [sys.executable, "-m", "orchestrator", "nss", "serve", "--name", "a", "--insecure",
           "--data", str(tmp_path / "data"), "--port", "0", "--token-file", str(token)]
    first = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.PIPE, text=True)
    try:
        line = first.stdout.readline()
        assert "serving http://127.0.0.1:" in line and ":0 " not in line, line
        assert token.stat().st_mode & 0o777 == 0o600 and len(token.read_text().strip()) > 20
        second = drkit(*cmd[3:], env=env, cwd=tmp_path)
        assert_one_line_error(second, "in use by another appliance", f"pid {first.pid}")
    finally:
        first.kill()
        first.wait()


@pytest.mark.live
def test_the_readme_lab_commands(tmp_path: Path):
    """The quick start: the lab up, looked at, down, up again on its data, reset (the first
    `sim up` of a machine builds vcsim: allow it the time)."""
    env = {"DRKIT_LAB_DIR": str(tmp_path / "lab"), "DRKIT_NSS_TOKEN": ""}
    try:
        steps = [["sim", "up", "--vms", "1", "--boot-delay", "0.2"], ["sim", "status"],
                 ["nss", "--site", "a", "luns"], ["nss", "--site", "b", "luns"],
                 ["sim", "down"], ["sim", "up"], ["sim", "status"]]
        for step in steps:
            proc = drkit(*step, env=env, cwd=tmp_path, timeout=300)
            assert proc.returncode == 0, f"drkit {' '.join(step)}: {proc.stderr[-2000:]}"
            assert "Traceback" not in proc.stderr
        assert "ds-a-1" in drkit("nss", "--site", "a", "luns", env=env).stdout
    finally:
        drkit("sim", "reset", "--yes", env=env, cwd=tmp_path)
    assert [p.name for p in (tmp_path / "lab").iterdir()] == ["lab.lock"]
