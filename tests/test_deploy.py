"""The deployment files hold together: Dockerfile, .dockerignore, compose.yaml, Procfile, deploy/
and the commands of docs/DEPLOY.md, checked without a container engine (none runs on CI).

The image itself is built only when the `docker` CLI reaches a running engine. What can be run
here is run: the content the image copies passes `python -m bot check`, the package builds from the
build context, the Procfile commands under a shell, the nginx sample in front of two stand-in
workers (when nginx is installed), and the backup script against SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.client
import http.server
import json
import os
import re
import shlex
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "compose.yaml"
PROCFILE = ROOT / "Procfile"
NGINX = ROOT / "deploy" / "nginx.conf"
BACKUP = ROOT / "deploy" / "backup.sh"
UNIT = ROOT / "deploy" / "backspasm-bot@.service"
DEPLOY_MD = ROOT / "docs" / "DEPLOY.md"

#: `python -m bot [--options] <sub-command>`, also as `.venv/bin/python3.11 -m bot …`.
BOT_CALL = re.compile(r"python[\d.]*\s+-m\s+bot\b((?:\s+--?[\w-]+)*)(?:\s+([a-z][\w-]*))?")
#: What BotFather hands out; never written into a deployment file.
TOKEN = re.compile(r"\b\d{6,}:[\w-]{30,}\b")


def bot_env() -> dict[str, str]:
    """The environment for `python -m bot` here: no token, so nothing tries to reach Telegram."""
    return {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "DATABASE_URL", "WEBHOOK_URL")}


@functools.cache
def subcommands() -> frozenset[str]:
    """The sub-commands `python -m bot --help` lists."""
    done = subprocess.run([sys.executable, "-m", "bot", "--help"], cwd=ROOT, env=bot_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    found = re.search(r"\{([\w,-]+)\}", done.stdout)
    assert found, done.stdout
    return frozenset(found.group(1).split(","))


def bot_calls(text: str) -> list[tuple[str, str]]:
    """(the call, its sub-command) for every `python -m bot …` in `text`; "" when it names none."""
    return [(m.group(0), m.group(2) or "") for m in BOT_CALL.finditer(text)]


def unknown_subcommands(text: str) -> list[str]:
    return [call for call, sub in bot_calls(text) if sub and sub not in subcommands()]


# --- the Dockerfile --------------------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = (pending + stripped).strip()
        pending = ""
        word, _, rest = whole.partition(" ")
        result.append((word.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return result


def stages() -> list[list[tuple[str, str]]]:
    """The instructions of each stage (from its FROM on)."""
    found: list[list[tuple[str, str]]] = []
    for word, rest in instructions():
        if word == "FROM":
            found.append([])
        if found:
            found[-1].append((word, rest))
    return found


def final_stage() -> list[tuple[str, str]]:
    return stages()[-1]


def exec_form(rest: str) -> list[str]:
    """A JSON-array (exec form) argument, after any --options of HEALTHCHECK."""
    body = rest[rest.index("[") :] if "[" in rest else ""
    assert body, f"not in exec form: {rest}"
    return json.loads(body)


def image_user() -> str:
    users = [rest for word, rest in final_stage() if word == "USER"]
    assert users, "the image runs as root: no USER in the final stage"
    return users[-1].split(":")[0]


def test_image_is_built_on_python_311_slim() -> None:
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", DOCKERFILE.read_text(), re.M))
    for word, rest in instructions():
        if word == "FROM":
            image = rest.split()[0]
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), image)
            assert image == "python:3.11-slim", rest


def test_image_runs_as_a_non_root_user_it_creates() -> None:
    user = image_user()
    assert user not in ("root", "0"), user
    words = [word for word, _ in final_stage()]
    last_user = len(words) - 1 - words[::-1].index("USER")
    assert words.index("CMD") > last_user and words.index("HEALTHCHECK") > last_user
    runs = " ".join(rest for word, rest in final_stage() if word == "RUN")
    assert re.search(rf"useradd\b[^&]*\s{re.escape(user)}\b", runs), f"the image does not create the user {user}"


def test_image_has_a_healthcheck_that_runs_bot_health() -> None:
    checks = [rest for word, rest in final_stage() if word == "HEALTHCHECK"]
    assert len(checks) == 1
    command = exec_form(checks[0].partition("CMD")[2])
    assert command == ["python", "-m", "bot", "health"]
    assert not unknown_subcommands(" ".join(command)), f"`python -m bot --help` lists no {command[-1]!r}: {sorted(subcommands())}"


def test_image_runs_the_bot() -> None:
    (cmd,) = [rest for word, rest in final_stage() if word == "CMD"]
    assert exec_form(cmd) == ["python", "-m", "bot", "run"]


def pip_commands() -> list[list[str]]:
    """Every pip command the Dockerfile runs, as words (shell operators split them)."""
    commands = []
    for word, rest in instructions():
        if word != "RUN":
            continue
        for part in re.split(r"&&|\|\||;", rest):
            words = shlex.split(part)
            words = [w for w in words if not w.startswith("--mount=")]
            if "pip" in words:
                commands.append(words[words.index("pip") :])
    return commands


PIP_OPTIONS_WITH_VALUE = {"-w", "--wheel-dir", "-f", "--find-links", "-i", "--index-url", "--extra-index-url", "-c", "--constraint", "-t", "--target"}


def test_image_installs_only_the_project() -> None:
    """pip builds the project (`.`) and installs its wheel with the dependencies pyproject.toml
    declares: no test extras, no requirements files, no other package named."""
    commands = pip_commands()
    assert commands
    for words in commands:
        assert words[1] in ("install", "wheel"), words
        positional, rest = [], iter(words[2:])
        for word in rest:
            if word in PIP_OPTIONS_WITH_VALUE:
                next(rest, None)
            elif not word.startswith("-"):
                positional.append(word)
        assert not any("[" in w for w in positional), f"extras installed: {words}"
        assert "-r" not in words and "--requirement" not in words, words
        for target in positional:
            assert target == "." or re.fullmatch(r"/dist/\*\.whl", target), f"pip installs something other than the project: {words}"
    installs = [w for w in commands if w[1] == "install"]
    assert installs and all(any(t.startswith("/dist/") for t in w) for w in installs)
    # The wheel in /dist is the project's, built with --no-deps from the code alone.
    assert any(w[1] == "wheel" and "--no-deps" in w and "/dist" in w for w in commands)


def test_image_can_load_psycopg() -> None:
    """psycopg 3 needs libpq: bundled by its `binary` extra, else from the system."""
    deps = " ".join(re.findall(r'"([^"]+)"', (ROOT / "pyproject.toml").read_text().split("[project.optional-dependencies]")[0]))
    psycopg = re.search(r"\bpsycopg(\[[^\]]*\])?", deps)
    if psycopg and "binary" not in (psycopg.group(1) or ""):
        assert re.search(r"apt-get install[^&]*\blibpq5\b", DOCKERFILE.read_text()), "psycopg without [binary] needs libpq5 in the image"


def test_data_folder_is_a_volume_owned_by_the_user() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"\bBOT_DATA_DIR=/data\b", text)
    (volume,) = [rest for word, rest in final_stage() if word == "VOLUME"]
    assert "/data" in (json.loads(volume) if volume.startswith("[") else volume.split())
    user = image_user()
    assert re.search(rf"install -d -o {user} -g {user} -m 0700 /data\b", text) or re.search(rf"chown[^&]*\b{user}\b[^&]*/data\b", text)


def test_classifier_is_trained_at_build_time_into_a_cache_the_user_owns() -> None:
    text = DOCKERFILE.read_text()
    cache = re.search(r"\bBOT_CACHE_DIR=(\S+)", text)
    assert cache and cache.group(1).startswith("/") and not cache.group(1).startswith("/data"), "BOT_CACHE_DIR: a path in the image"
    words = final_stage()
    last_user = max(i for i, (word, _) in enumerate(words) if word == "USER")
    after = " ".join(rest for word, rest in words[last_user:] if word == "RUN")
    assert "python -m bot check" in after, "the content is validated (and the model trained) as the user, after USER"
    assert re.search(r'install -d -o (\w+)[^&]*"?\$BOT_CACHE_DIR"?', text), "the cache folder is created for the user"


# --- the build context -----------------------------------------------------------------------


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(is an exception "!", pattern) of .dockerignore, as Docker reads them (Go's filepath.Match
    plus "**"), each matching a path relative to the context."""
    patterns = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line[1:] if negate else line).lstrip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**", i):
                regex += ".*"
                i += 2
                if pattern.startswith("/", i):
                    regex = regex[:-2] + "(?:.*/)?"
                    i += 1
                continue
            char = pattern[i]
            if char == "*":
                regex += "[^/]*"
            elif char == "?":
                regex += "[^/]"
            elif char == "[":
                end = pattern.index("]", i)
                regex += pattern[i : end + 1]
                i = end
            else:
                regex += re.escape(char)
            i += 1
        patterns.append((negate, re.compile(regex + r"\Z")))
    return patterns


def ignored(path: str) -> bool:
    """Whether Docker leaves `path` (relative, with /) out of the build context: the last pattern
    that matches it or one of its parent folders decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for negate, pattern in dockerignore_patterns():
        if any(pattern.match(p) for p in prefixes):
            result = not negate
    return result


def context_files() -> list[str]:
    """The files of the working tree that go into the build context."""
    files = []
    for folder, dirs, names in os.walk(ROOT):
        rel_dir = os.path.relpath(folder, ROOT)
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
            if not ignored(rel):
                files.append(rel)
    return sorted(files)


def copies(stage: list[tuple[str, str]]) -> list[tuple[list[str], str]]:
    """(sources, destination) of the stage's COPY instructions from the build context."""
    found = []
    for word, rest in stage:
        if word == "COPY":
            args = [a for a in shlex.split(rest) if not a.startswith("--")]
            if not any(a.startswith("--from") for a in shlex.split(rest)):
                found.append((args[:-1], args[-1]))
    return found


@pytest.mark.parametrize(
    "path",
    [".env", ".env.production", "data/bot.sqlite3", "data/bot.sqlite3-wal", ".venv/bin/python", ".git/config", "tests/test_deploy.py",
     "benchmarks/load.py", "backups/backspasm-1.pgdump.gpg", "bot/__pycache__/cli.cpython-311.pyc", "compose.yaml", "docs/DEPLOY.md"],
)
def test_build_context_leaves_out(path: str) -> None:
    assert ignored(path), f"{path} would be sent into the image's build context"


def test_every_copied_file_is_in_the_build_context() -> None:
    context = set(context_files())
    for stage in stages():
        for sources, _ in copies(stage):
            for source in sources:
                source = source.rstrip("/")
                assert (ROOT / source).exists(), f"COPY {source}: no such file"
                assert source in context or any(f.startswith(source + "/") for f in context), f"COPY {source}: left out by .dockerignore"


def simulate_copies(stage: list[tuple[str, str]], into: Path, workdir: str) -> None:
    """Put what the stage's COPY instructions copy from the context under `into` (the stage's
    WORKDIR `workdir`), leaving out what .dockerignore leaves out."""
    context = context_files()
    for sources, dest in copies(stage):
        target = into / os.path.relpath(dest if dest.startswith("/") else os.path.join(workdir, dest), workdir)
        for source in sources:
            source = source.rstrip("/")
            if (ROOT / source).is_file():
                place = target / Path(source).name if dest.endswith("/") or len(sources) > 1 else target
                place.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / source, place)
                continue
            for rel in context:
                if rel.startswith(source + "/"):
                    place = target / os.path.relpath(rel, source)
                    place.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / rel, place)


def workdir_of(stage: list[tuple[str, str]]) -> str:
    return next(rest for word, rest in stage if word == "WORKDIR")


def test_the_content_the_image_copies_passes_check(tmp_path: Path) -> None:
    """What the image holds under BOT_CONTENT_DIR is the whole content: `python -m bot check`
    passes on exactly the files the final stage copies."""
    stage = final_stage()
    content_dir = re.search(r"\bBOT_CONTENT_DIR=(\S+)", DOCKERFILE.read_text()).group(1)
    assert workdir_of(stage) == content_dir
    simulate_copies(stage, tmp_path, content_dir)
    root_yaml = {p.name for p in ROOT.glob("*.yaml")} - {"compose.yaml"}
    assert root_yaml <= {p.name for p in tmp_path.glob("*.yaml")}, "a content file at the top of the repository is not copied"
    assert (tmp_path / "Procfile").is_file()
    env = bot_env() | {"BOT_CONTENT_DIR": str(tmp_path), "BOT_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "bot", "check"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "content OK" in done.stdout


def test_the_package_builds_from_the_build_context(tmp_path: Path) -> None:
    """The build stage builds the package from exactly what it copies: offline, the wheel when
    this setuptools can make one (it needs `wheel` before setuptools 70.1), else its build_py."""
    pytest.importorskip("setuptools")
    stage = stages()[0]
    source = tmp_path / "src"
    simulate_copies(stage, source, workdir_of(stage))
    expected = {f"bot/{p.relative_to(ROOT / 'bot').as_posix()}" for p in (ROOT / "bot").rglob("*.py") if "__pycache__" not in p.parts}
    can_wheel = subprocess.run([sys.executable, "-c", "import setuptools.command.bdist_wheel"], capture_output=True).returncode == 0
    can_wheel = can_wheel or subprocess.run([sys.executable, "-c", "import wheel"], capture_output=True).returncode == 0
    if can_wheel:
        argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(tmp_path / "dist"), str(source)]
    else:
        argv = [sys.executable, "-c", "import setuptools; setuptools.setup()", "build_py", "--build-lib", str(tmp_path / "lib")]
    done = subprocess.run(argv, cwd=source, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    if can_wheel:
        (wheel,) = (tmp_path / "dist").glob("backspasm_bot-*.whl")
        names = set(zipfile.ZipFile(wheel).namelist())
    else:
        names = {p.relative_to(tmp_path / "lib").as_posix() for p in (tmp_path / "lib").rglob("*.py")}
    assert expected <= names, sorted(expected - names)


# --- docker (only with a running engine) -----------------------------------------------------


@functools.cache
def engine_running() -> bool:
    docker = shutil.which("docker")
    if not docker:
        return False
    try:
        return subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.slow
def test_the_image_builds_and_runs_as_its_user() -> None:
    if not engine_running():
        pytest.skip("no container engine")
    tag = f"backspasm-bot:test-deploy-{os.getpid()}"
    built = subprocess.run(["docker", "build", "-t", tag, str(ROOT)], capture_output=True, text=True, timeout=3600)
    assert built.returncode == 0, built.stderr[-4000:]
    try:
        uid = subprocess.run(["docker", "run", "--rm", "--entrypoint", "id", tag, "-u"], capture_output=True, text=True, timeout=120)
        assert uid.stdout.strip() not in ("", "0"), uid
        check = subprocess.run(["docker", "run", "--rm", tag, "python", "-m", "bot", "check"], capture_output=True, text=True, timeout=300)
        assert check.returncode == 0 and "content OK" in check.stdout, check.stderr
        # The classifier was trained at build time: answering trains nothing.
        ask = subprocess.run(["docker", "run", "--rm", "--read-only", tag, "python", "-m", "bot", "ask", "heat or ice?"], capture_output=True, text=True, timeout=300)
        assert ask.returncode == 0 and "training a classifier" not in ask.stderr, ask.stderr
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, timeout=120)


# --- compose.yaml ----------------------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def variables_filled(text: str) -> str:
    """`${NAME...}` replaced by NAME in lower case, as compose fills them from .env."""
    return re.sub(r"\$\{(\w+)[^}]*\}", lambda m: m.group(1).lower(), text)


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def test_compose_runs_the_bot_and_postgres_16() -> None:
    services = compose()["services"]
    assert set(services) >= {"bot", "db"}
    assert services["db"]["image"] == "postgres:16-alpine"
    assert services["bot"]["build"] == "." or services["bot"]["build"].get("context") == "."


def test_compose_wires_database_url_to_the_postgres_service() -> None:
    services = compose()["services"]
    url = urlsplit(variables_filled(environment(services["bot"])["DATABASE_URL"]))
    db = environment(services["db"])
    assert url.scheme in ("postgresql", "postgres")
    assert url.hostname == "db" and (url.port or 5432) == 5432
    assert url.username == db["POSTGRES_USER"] and url.path == "/" + db["POSTGRES_DB"]
    assert url.password == variables_filled(db["POSTGRES_PASSWORD"]), "the bot and the database take the password from one variable"
    assert services["bot"]["depends_on"]["db"]["condition"] == "service_healthy"


def test_compose_keeps_the_database_on_a_named_volume_and_unpublished() -> None:
    doc = compose()
    db = doc["services"]["db"]
    volume = next(v.split(":")[0] for v in db["volumes"] if v.endswith(":/var/lib/postgresql/data"))
    assert volume in doc["volumes"], "the database's data is on a named volume"
    assert "ports" not in db, "the database is reachable only on the project's network"


def test_compose_has_healthchecks() -> None:
    services = compose()["services"]
    bot_check = services["bot"]["healthcheck"]["test"]
    assert bot_check[0] == "CMD" and bot_check[1:] == ["python", "-m", "bot", "health"]
    assert not unknown_subcommands(" ".join(bot_check[1:])), sorted(subcommands())
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])


def test_compose_takes_the_token_from_env_file_and_polls() -> None:
    bot = compose()["services"]["bot"]
    env_file = bot["env_file"]
    assert env_file == ".env" or ".env" in [e if isinstance(e, str) else e["path"] for e in env_file]
    assert "TELEGRAM_BOT_TOKEN" not in environment(bot), "the token comes from .env, not from compose.yaml"
    assert not TOKEN.search(COMPOSE.read_text())
    assert environment(bot).get("WEBHOOK_URL") == "", "the poller polls even when .env sets WEBHOOK_URL for web workers"


def test_compose_commented_webhook_workers_are_valid_and_match_nginx() -> None:
    """Uncommented, the `web` service is two webhook workers on the ports nginx proxies to."""
    text = COMPOSE.read_text()
    uncommented = re.sub(r"^  # (web:)", r"  \1", text, flags=re.M)
    uncommented = re.sub(r"^  #   ", "    ", uncommented, flags=re.M)
    web = yaml.safe_load(uncommented)["services"]["web"]
    assert environment(web)["WEBHOOK_URL"] and "DATABASE_URL" in environment(web)
    assert web["deploy"]["replicas"] == 2
    (ports,) = web["ports"]
    first, last = map(int, re.search(r"127\.0\.0\.1:(\d+)-(\d+):", ports).groups())
    assert set(range(first, last + 1)) == set(upstream_ports())


def test_compose_config_is_accepted_by_docker_compose(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("no `docker compose` here")
    shutil.copy(COMPOSE, tmp_path / "compose.yaml")
    (tmp_path / ".env").write_text("TELEGRAM_BOT_TOKEN=123456:TEST\nPOSTGRES_PASSWORD=abc123\n")
    done = subprocess.run([docker, "compose", "-f", str(tmp_path / "compose.yaml"), "config", "--quiet"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# --- Procfile --------------------------------------------------------------------------------


def procfile() -> dict[str, str]:
    lines = [line for line in PROCFILE.read_text().splitlines() if line.strip()]
    entries: dict[str, str] = {}
    for line in lines:
        match = re.fullmatch(r"([A-Za-z0-9_-]+): ?(\S.*)", line)  # Heroku: "<process type>: <command>"
        assert match, f"not a Procfile line: {line!r}"
        assert match.group(1) not in entries, f"{match.group(1)} declared twice"
        entries[match.group(1)] = match.group(2)
    return entries


def bot_argv(command: str) -> list[str]:
    """The command's argv after leading VAR=value assignments and an `env [-u NAME]` prefix."""
    words = shlex.split(re.sub(r"\$\{[^}]*\}", "VALUE", command))  # ${VAR:?message} is one word
    while words and re.fullmatch(r"\w+=.*", words[0]):
        words.pop(0)
    if words and words[0] == "env":
        words.pop(0)
        while words and (words[0] == "-u" or re.fullmatch(r"\w+=.*", words[0])):
            words = words[2:] if words[0] == "-u" else words[1:]
    return words


def test_every_procfile_line_runs_a_sub_command_of_the_bot() -> None:
    entries = procfile()
    assert {"worker", "web"} <= set(entries)
    for name, command in entries.items():
        argv = bot_argv(command)
        assert argv[:3] == ["python", "-m", "bot"] and len(argv) >= 4, f"{name}: {command}"
        assert argv[3] in subcommands(), f"{name}: `python -m bot --help` lists no {argv[3]!r}"


def run_procfile(command: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """`command` through bash, as Heroku runs it, with a stand-in `python` that prints what it got."""
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text('#!/bin/sh\necho "WEBHOOK_URL=${WEBHOOK_URL-unset} ARGS=$*"\n')
    fake.chmod(0o755)
    base = {"PATH": f"{fake.parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(["bash", "-c", command], env=base | env, capture_output=True, text=True, timeout=30)


def test_procfile_worker_polls_even_with_webhook_url_set(tmp_path: Path) -> None:
    done = run_procfile(procfile()["worker"], {"WEBHOOK_URL": "https://bot.example.org"}, tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "WEBHOOK_URL=unset ARGS=-m bot run", done


def test_procfile_web_needs_webhook_url(tmp_path: Path) -> None:
    done = run_procfile(procfile()["web"], {}, tmp_path)
    assert done.returncode != 0 and "WEBHOOK_URL" in done.stderr and not done.stdout, done
    done = run_procfile(procfile()["web"], {"WEBHOOK_URL": "https://bot.example.org"}, tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "WEBHOOK_URL=https://bot.example.org ARGS=-m bot run", done


def test_systemd_unit_runs_a_webhook_worker_per_port() -> None:
    text = UNIT.read_text()
    (exec_start,) = re.findall(r"^ExecStart=(.+)$", text, re.M)
    assert [sub for _, sub in bot_calls(exec_start)] == ["run"]
    assert re.search(r"^Environment=.*\bWEBHOOK_LISTEN=127\.0\.0\.1\b.*\bPORT=%i\b", text, re.M)
    assert re.search(r"^User=(?!root$)\w+$", text, re.M)


# --- nginx -----------------------------------------------------------------------------------


def upstream_ports() -> list[int]:
    upstream = re.search(r"upstream\s+(\w+)\s*\{(.*?)\}", NGINX.read_text(), re.S)
    return [int(p) for p in re.findall(r"^\s*server\s+127\.0\.0\.1:(\d+)\b", upstream.group(2), re.M)]


def telegram_location() -> str:
    text = NGINX.read_text()
    start = text.index("location = /telegram")
    depth, i = 0, text.index("{", start)
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[start : j + 1]
    raise AssertionError("unbalanced braces")


def test_nginx_proxies_telegram_to_two_workers() -> None:
    text = NGINX.read_text()
    name = re.search(r"upstream\s+(\w+)", text).group(1)
    assert len(upstream_ports()) >= 2
    location = telegram_location()
    assert re.search(rf"proxy_pass\s+http://{name};", location)
    assert "$http_x_telegram_bot_api_secret_token" in location
    assert re.search(r"limit_except\s+POST", location)


def test_nginx_terminates_tls_and_limits_requests() -> None:
    text = NGINX.read_text()
    assert re.search(r"listen\s+443\s+ssl", text) and "ssl_certificate " in text
    assert re.search(r"client_max_body_size\s+1m;", text)
    for directive in ("client_header_timeout", "client_body_timeout", "proxy_read_timeout", "proxy_connect_timeout", "send_timeout"):
        assert re.search(rf"{directive}\s+\d+s;", text), directive
    assert text.count("{") == text.count("}")


class StandIn(http.server.ThreadingHTTPServer):
    """A stand-in worker that can be stopped as a process stops: its open connections too."""

    daemon_threads = True

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.open: list[socket.socket] = []
        self.stopped = False

    def process_request(self, request, client_address) -> None:
        self.open.append(request)
        super().process_request(request, client_address)

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.shutdown()
        self.server_close()
        for connection in self.open:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
                connection.close()


@pytest.fixture
def stand_in_workers() -> Iterator[list[tuple[int, list[bytes], StandIn]]]:
    """Two HTTP servers standing in for the webhook workers: (port, bodies received, server)."""
    servers = []

    def make(seen: list[bytes]):
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                seen.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        return Handler

    for _ in range(2):
        seen: list[bytes] = []
        server = StandIn(("127.0.0.1", 0), make(seen))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append((server, seen))
    yield [(s.server_address[1], seen, s) for s, seen in servers]
    for server, _ in servers:
        server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_config(folder: Path, listen: int | None = None, workers: list[int] | None = None) -> Path:
    """The sample, made to run here: a throw-away certificate, and (if given) another port and
    the stand-in workers' ports; 127.0.0.1 allowed besides Telegram."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=bot.example.org",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )
    site = NGINX.read_text()
    site = site.replace("/etc/letsencrypt/live/bot.example.org/fullchain.pem", str(folder / "cert.pem"))
    site = site.replace("/etc/letsencrypt/live/bot.example.org/privkey.pem", str(folder / "key.pem"))
    if listen:
        site = re.sub(r"listen\s+443\s+ssl;", f"listen 127.0.0.1:{listen} ssl;", site)
        site = re.sub(r"^\s*listen\s+\[::\]:443\s+ssl;\n", "", site, flags=re.M)
        site = site.replace("deny  all;", "allow 127.0.0.1;\n        deny  all;", 1)
    if workers:
        for old, new in zip(upstream_ports(), workers, strict=True):
            site = site.replace(f"server 127.0.0.1:{old} ", f"server 127.0.0.1:{new} ")
    (folder / "site.conf").write_text(site)
    temp = "\n".join(f"    {d} {folder / d};" for d in ("client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path", "uwsgi_temp_path", "scgi_temp_path"))
    main = folder / "nginx.conf"
    main.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"pid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'};\nworker_processes 1;\nevents {{}}\n"
        + f"http {{\n    access_log off;\n{temp}\n    include {folder / 'site.conf'};\n}}\n"
    )
    return main


def need_nginx() -> str:
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    if not nginx:
        pytest.skip("nginx is not installed")
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    return nginx


def test_nginx_accepts_the_sample_config(tmp_path: Path) -> None:
    nginx = need_nginx()
    main = nginx_config(tmp_path)
    done = subprocess.run([nginx, "-t", "-c", str(main), "-p", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_nginx_sample_serves_telegram_through_both_workers(tmp_path: Path, stand_in_workers) -> None:
    """Updates with the secret header reach both workers in turn; no header 403, GET 403,
    other paths 404, a body over 1 MB 413, and a stopped worker's share goes to the other."""
    nginx = need_nginx()
    port = free_port()
    main = nginx_config(tmp_path, listen=port, workers=[p for p, _, _ in stand_in_workers])
    proc = subprocess.Popen([nginx, "-c", str(main), "-p", str(tmp_path), "-g", "daemon off;"], stderr=subprocess.PIPE)
    try:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE

        def request(method: str, path: str, body: bytes = b"", secret: bool = True) -> int:
            deadline = time.monotonic() + 10
            while True:
                try:
                    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
                    headers = {"Content-Type": "application/json"} | ({"X-Telegram-Bot-Api-Secret-Token": "s3cret"} if secret else {})
                    conn.request(method, path, body=body, headers=headers)
                    status = conn.getresponse().status
                    conn.close()
                    return status
                except ConnectionRefusedError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                    time.sleep(0.1)

        statuses = [request("POST", "/telegram", json.dumps({"update_id": i}).encode()) for i in range(6)]
        assert statuses == [200] * 6, statuses
        assert all(len(seen) >= 2 for _, seen, _ in stand_in_workers), "both workers get updates"
        assert request("POST", "/telegram", b"{}", secret=False) == 403
        assert request("GET", "/telegram") == 403
        assert request("POST", "/healthz", b"{}") == 404
        assert request("POST", "/telegram", b"x" * (1024 * 1024 + 1)) == 413
        (_, _, stopped), (_, other, _) = stand_in_workers
        stopped.stop()
        before = len(other)
        assert [request("POST", "/telegram", b"{}") for _ in range(4)] == [200] * 4
        assert len(other) == before + 4, "the other worker takes the stopped one's share"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --- backups ---------------------------------------------------------------------------------


def need_backup_tools() -> None:
    if not shutil.which("bash") or not shutil.which("sqlite3"):
        pytest.skip("bash and the sqlite3 command line are needed")


def fake_age(folder: Path) -> Path:
    """A stand-in `age` on PATH: "encrypts" to base64 behind a header naming the recipient."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(exist_ok=True)
    age = bin_dir / "age"
    age.write_text('#!/bin/sh\n[ "$1" = --encrypt ] && [ "$2" = --recipient ] || exit 9\necho "FAKE-AGE $3"\nbase64\n')
    age.chmod(0o755)
    return bin_dir


def decrypt_fake_age(data: bytes) -> bytes:
    header, _, body = data.partition(b"\n")
    assert header.startswith(b"FAKE-AGE ")
    return base64.b64decode(body)


def run_backup(dest: Path, env: dict[str, str], path_prefix: Path | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BACKUP_", "DATABASE_URL", "BOT_"))}
    if path_prefix:
        base["PATH"] = f"{path_prefix}:{base.get('PATH', '/usr/bin:/bin')}"
    return subprocess.run(["bash", str(BACKUP), str(dest)], env=base | env, capture_output=True, text=True, timeout=120)


def test_backup_script_is_valid_bash() -> None:
    done = subprocess.run(["bash", "-n", str(BACKUP)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert os.access(BACKUP, os.X_OK), "deploy/backup.sh is executable"


def sqlite_database(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bot.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, state TEXT)")
        db.execute("INSERT INTO users VALUES (1, '{\"flow\": \"pain_level\"}')")
        db.commit()
    return path


def test_backup_refuses_to_write_health_data_unencrypted(tmp_path: Path) -> None:
    need_backup_tools()
    sqlite_database(tmp_path / "data")
    done = run_backup(tmp_path / "backups", {"BOT_DATA_DIR": str(tmp_path / "data")})
    assert done.returncode != 0 and "BACKUP_GPG_RECIPIENT" in done.stderr
    assert not any((tmp_path / "backups").glob("backspasm-*"))


def test_backup_of_sqlite_is_encrypted_restorable_and_rotated(tmp_path: Path) -> None:
    need_backup_tools()
    sqlite_database(tmp_path / "data")
    dest = tmp_path / "backups"
    dest.mkdir()
    old, recent = dest / "backspasm-20200101T000000Z.sqlite3.age", dest / "backspasm-recent.sqlite3.age"
    old.write_text("old")
    recent.write_text("recent")
    ten_days_ago = time.time() - 10 * 86400
    os.utime(old, (ten_days_ago, ten_days_ago))
    done = run_backup(dest, {"BOT_DATA_DIR": str(tmp_path / "data"), "BACKUP_AGE_RECIPIENT": "age1example"}, fake_age(tmp_path))
    assert done.returncode == 0, done.stderr
    written = Path(done.stdout.strip())
    assert written.parent == dest and written.name.endswith(".sqlite3.age")
    assert written.stat().st_mode & 0o077 == 0 and dest.stat().st_mode & 0o077 == 0, "owner-only"
    data = written.read_bytes()
    assert b"SQLite format 3" not in data and b"pain_level" not in data
    restored = tmp_path / "restored.sqlite3"
    restored.write_bytes(decrypt_fake_age(data))
    with contextlib.closing(sqlite3.connect(restored)) as db:
        assert db.execute("SELECT state FROM users").fetchall() == [('{"flow": "pain_level"}',)]
    assert not old.exists() and recent.exists(), "backups older than BACKUP_KEEP_DAYS are deleted, newer ones kept"
    assert [p.name for p in dest.iterdir() if p.name.startswith(".")] == [], "no working files left behind"


def test_backup_of_postgres_restores_with_pg_restore(tmp_path: Path) -> None:
    need_backup_tools()
    for tool in ("pg_dump", "pg_restore", "psql"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed")
    try:
        from tests.postgres_server import PostgresUnavailable, postgres
    except ImportError as error:
        pytest.skip(f"no PostgreSQL helper: {error}")
    base = Path(tempfile.mkdtemp(prefix="pg-deploy-", dir="/tmp"))
    try:
        with postgres(base) as server:
            psql = ["psql", "--no-psqlrc", "--quiet", "--tuples-only", "--no-align", "-v", "ON_ERROR_STOP=1"]
            subprocess.run([*psql, server.url, "-c", "CREATE TABLE users (id int PRIMARY KEY, state text); INSERT INTO users VALUES (7, 'triage');"], check=True, timeout=60)
            done = run_backup(tmp_path / "backups", {"DATABASE_URL": server.url, "BACKUP_AGE_RECIPIENT": "age1example"}, fake_age(tmp_path))
            assert done.returncode == 0, done.stderr
            written = Path(done.stdout.strip())
            assert written.name.endswith(".pgdump.age") and b"triage" not in written.read_bytes()
            dump = tmp_path / "restored.pgdump"
            dump.write_bytes(decrypt_fake_age(written.read_bytes()))
            subprocess.run([*psql, server.url, "-c", "DROP TABLE users;"], check=True, timeout=60)
            restore = subprocess.run(["pg_restore", f"--dbname={server.url}", "--clean", "--if-exists", "--no-owner", str(dump)], capture_output=True, text=True, timeout=120)
            assert restore.returncode == 0, restore.stderr
            rows = subprocess.run([*psql, server.url, "-c", "SELECT id, state FROM users"], capture_output=True, text=True, check=True, timeout=60)
            assert rows.stdout.strip() == "7|triage"
    except PostgresUnavailable as error:
        pytest.skip(str(error))
    finally:
        shutil.rmtree(base, ignore_errors=True)


# --- docs/DEPLOY.md --------------------------------------------------------------------------


def sh_blocks() -> list[str]:
    return re.findall(r"^[ \t]*```sh[ \t]*\n(.*?)^[ \t]*```", DEPLOY_MD.read_text(), re.M | re.S)


def test_deploy_md_commands_use_only_existing_sub_commands() -> None:
    blocks = sh_blocks()
    assert blocks, "docs/DEPLOY.md has no ```sh blocks"
    calls = [call for block in blocks for call in bot_calls(block)]
    assert {sub for _, sub in calls} >= {"check", "health"}
    unknown = [call for block in blocks for call in unknown_subcommands(block)]
    assert not unknown, f"not sub-commands of `python -m bot` ({sorted(subcommands())}): {unknown}"


def test_deploy_md_shell_blocks_are_valid_shell() -> None:
    for block in sh_blocks():
        done = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, f"{done.stderr}\n{block}"


def test_deploy_md_names_only_files_that_exist() -> None:
    text = DEPLOY_MD.read_text()
    named = set(re.findall(r"`((?:deploy|docs|bot|tests)/[\w@.-]+\.\w+|Dockerfile|\.dockerignore|compose\.yaml|Procfile)`", text))
    assert {"deploy/nginx.conf", "deploy/backup.sh", "compose.yaml", "Procfile", "Dockerfile"} <= named
    missing = [name for name in named if not (ROOT / name).exists()]
    assert not missing, missing


def test_no_deployment_file_holds_a_token() -> None:
    for path in (DOCKERFILE, COMPOSE, PROCFILE, NGINX, BACKUP, UNIT, DEPLOY_MD):
        assert not TOKEN.search(path.read_text()), path
