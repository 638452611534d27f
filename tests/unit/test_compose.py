"""docker-compose.yaml and docker/Dockerfile: valid, complete, secret-free, and in step with the pins.

No Docker engine is needed: the file is checked against the Compose Specification schema vendored in
check-jsonschema, and everything else is read from the YAML itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"

AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
)
REQUIRED_SERVICES = ("postgres", "redis", *AIRFLOW_SERVICES)
ONRAMP_SERVICES = {"collector": ("onramp collector", 8088)}
PROJECT_DIRS = ("dags", "plugins", "include", "sql", "expectations", "config", "tracking_plan")

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt}; `$$` is a literal `$`.
INTERPOLATION = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
SECRET_KEY = re.compile(r"password|passwd|secret|fernet|key|token|_auth$", re.IGNORECASE)
SECRET_FLAG = re.compile(r"^--?[\w-]*(pass|secret|token|key)[\w-]*$", re.IGNORECASE)
URL_USERINFO = re.compile(r"[a-z][a-z0-9+.-]*://(?P<user>[^:/@\s]*):(?P<password>[^@/\s]*)@", re.IGNORECASE)
PLACEHOLDER = "\x00interpolated\x00"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def resolve_defaults(value: str) -> str:
    """What compose makes of ``value`` when no variable is set (``${X:-d}`` -> ``d``)."""
    return INTERPOLATION.sub(lambda m: m["arg"] if m["op"] in (":-", "-") else "", value)


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: str(value) for key, value in env.items()}


def walk(node: object, path: str = "") -> Iterator[tuple[str, object, object]]:
    """(path, key, value) for every mapping entry and list item in the document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}", key, value
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield f"{path}[{index}]", None, value
            yield from walk(value, f"{path}[{index}]")


def is_secret_reference(value: object) -> bool:
    """True if ``value`` is one interpolation that carries no secret of its own (required or empty default)."""
    match = INTERPOLATION.fullmatch(str(value))
    if not match:
        return False
    return match["op"] in (None, ":?", "?") or (match["op"] in (":-", "-") and match["arg"] == "")


def bind_sources(compose: dict) -> list[tuple[str, str]]:
    """(service, host path) of every bind mount, relative paths resolved against the repo root."""
    found = []
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            if isinstance(volume, dict):
                source = volume.get("source", "") if volume.get("type") == "bind" else ""
            else:
                source = resolve_defaults(volume).split(":", 1)[0]
            if source.startswith((".", "/", "~")):
                found.append((name, source))
    return found


def airflow_pin() -> str:
    """Version of the ``apache-airflow==`` pin (requirements.txt, else requirements.in)."""
    for name in ("requirements.txt", "requirements.in"):
        path = ROOT / name
        if path.is_file():
            match = re.search(r"^apache-airflow==([0-9][\w.]*)", path.read_text(), re.MULTILINE)
            if match:
                return match.group(1)
    pytest.fail("no `apache-airflow==X.Y.Z` line in requirements.txt or requirements.in")


def project_python() -> str:
    """Python minor version the project targets (``requires-python = ">=3.12,<3.13"`` -> ``3.12``)."""
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    match = re.search(r">=\s*(\d+\.\d+)", spec)
    assert match, f"pyproject.toml requires-python {spec!r} has no lower bound"
    return match.group(1)


def dockerfile_base() -> str:
    froms = re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.MULTILINE | re.IGNORECASE)
    assert froms, "docker/Dockerfile has no FROM line"
    return froms[0]


def run_check_jsonschema(path: Path) -> subprocess.CompletedProcess:
    # A dead proxy proves the check never needs the network: the compose-spec schema is vendored.
    env = {
        **os.environ,
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "",
    }
    env |= {
        key.lower(): value for key, value in env.items() if key in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
    }
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


# --- schema -----------------------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification_offline():
    result = run_check_jsonschema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_an_invalid_compose_file(tmp_path):
    bad = tmp_path / "docker-compose.yaml"
    bad.write_text("services:\n  web:\n    image: nginx\n    ports: {http: 80}\n    restart_policy: always\n")
    result = run_check_jsonschema(bad)
    assert result.returncode != 0, "check-jsonschema accepted a compose file the spec forbids"


# --- services and settings --------------------------------------------------------------------------


def test_every_required_service_is_defined(compose):
    missing = [name for name in REQUIRED_SERVICES if name not in compose["services"]]
    assert not missing, f"docker-compose.yaml lacks services {missing}"


def test_airflow_services_run_celery_with_bounded_concurrency(compose):
    for name in AIRFLOW_SERVICES:
        env = env_of(compose["services"][name])
        assert env.get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor", name
        assert env.get("AIRFLOW__CORE__LOAD_EXAMPLES", "").lower() == "false", name
        assert 0 < int(env["AIRFLOW__CORE__PARALLELISM"]) <= 16, name
        assert 0 < int(env["AIRFLOW__CELERY__WORKER_CONCURRENCY"]) <= 16, name
        assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        assert "@redis:6379/" in env["AIRFLOW__CELERY__BROKER_URL"], name
        assert env.get("PYTHONPATH") == "/opt/airflow/include", name


def test_connections_are_derived_from_the_settings_not_configured_beside_them(compose):
    """One source of truth: the image's entrypoint derives AIRFLOW_CONN_* from ONRAMP_* in every process."""
    for name, service in compose["services"].items():
        assert not [k for k in env_of(service) if k.startswith("AIRFLOW_CONN_")], f"{name} sets AIRFLOW_CONN_*"
    dockerfile = DOCKERFILE.read_text()
    assert "docker/entrypoint.sh" in dockerfile and '"/onramp-entrypoint"' in dockerfile
    entrypoint = (ROOT / "docker" / "entrypoint.sh").read_text()
    assert "python -m onramp.endpoints --export" in entrypoint and 'exec /entrypoint "$@"' in entrypoint


def test_the_entrypoint_derives_connections_with_the_redis_password():
    """What docker/entrypoint.sh evaluates, for the settings compose passes (passwords included)."""
    settings = {"ONRAMP_PG_URL": "postgresql://onramp:pw@postgres:5432/postgres",
                "ONRAMP_APP_PG_URL": "postgresql://onramp:pw@postgres:5432/postgres",
                "ONRAMP_REDIS_URL": "redis://:s3cret@redis:6379/1"}
    run = subprocess.run([sys.executable, "-m", "onramp.endpoints", "--export"], capture_output=True, text=True,
                         env={**os.environ, **settings}, check=True)
    assert "export AIRFLOW_CONN_ONRAMP_REDIS=redis://:s3cret@redis:6379/1" in run.stdout
    assert "export AIRFLOW_CONN_ONRAMP_WAREHOUSE='postgres://onramp:pw@postgres:5432/warehouse?" in run.stdout
    assert "export AIRFLOW_CONN_ONRAMP_APP_DB='postgres://onramp:pw@postgres:5432/app?" in run.stdout


def test_onramp_settings_reach_every_airflow_process(compose):
    expected = {
        "ONRAMP_PG_URL": "@postgres:5432/",
        "ONRAMP_REDIS_URL": "@redis:6379/",
        "ONRAMP_HOME": "/opt/airflow/onramp-state",
        "ONRAMP_EMBEDDED": "never",
    }
    for name in AIRFLOW_SERVICES:
        env = env_of(compose["services"][name])
        for key, fragment in expected.items():
            assert fragment in env.get(key, ""), f"{name}: {key}={env.get(key)!r} should contain {fragment!r}"


def test_postgres_has_logical_decoding_and_creates_the_databases(compose):
    postgres = compose["services"]["postgres"]
    command = postgres["command"] if isinstance(postgres["command"], str) else " ".join(postgres["command"])
    for setting in ("wal_level=logical", "max_replication_slots=", "max_wal_senders="):
        assert setting in command, f"postgres command lacks {setting}"
    assert any(
        v.split(":")[1] == "/docker-entrypoint-initdb.d" for v in postgres["volumes"] if isinstance(v, str)
    )
    init_sql = (ROOT / "docker" / "postgres-init" / "01-databases.sql").read_text().lower()
    for database in ("airflow", "app", "warehouse"):
        assert f"create database {database}" in init_sql, f"init script does not create {database}"


def test_redis_keeps_an_append_only_file(compose):
    command = compose["services"]["redis"]["command"]
    command = command.split() if isinstance(command, str) else command
    assert command[command.index("--appendonly") + 1] == "yes"


def test_init_migrates_airflow_then_onramp(compose):
    script = " ".join(compose["services"]["airflow-init"]["command"])
    assert script.index("airflow db migrate") < script.index("onramp migrate")


def test_onramp_services_are_opt_in_placeholders(compose):
    for name, (command, port) in ONRAMP_SERVICES.items():
        service = compose["services"][name]
        assert service.get("profiles") == ["onramp-services"], f"{name} should start only with its profile"
        assert command in " ".join(service["command"]), name
        assert any(resolve_defaults(p).endswith(f":{port}") for p in service["ports"]), (
            f"{name} should publish {port}"
        )


def test_every_service_with_a_long_running_process_has_a_healthcheck(compose):
    for name, service in compose["services"].items():
        if name != "airflow-init":
            assert "test" in service.get("healthcheck", {}), f"{name} has no healthcheck"


# --- files ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("directory", PROJECT_DIRS)
def test_project_directories_exist(directory):
    assert (ROOT / directory).is_dir(), f"{directory}/ is mounted into the containers but missing"


def test_project_directories_are_mounted_into_opt_airflow(compose):
    for name in AIRFLOW_SERVICES:
        mounts = {
            v.split(":")[0]: v.split(":")[1]
            for v in compose["services"][name]["volumes"]
            if isinstance(v, str)
        }
        for directory in PROJECT_DIRS:
            assert mounts.get(f"./{directory}") == f"/opt/airflow/{directory}", f"{name}: ./{directory}"


def test_every_bind_mounted_host_path_exists(compose):
    sources = bind_sources(compose)
    assert sources, "expected bind mounts (./dags, ./include, ...)"
    missing = [(name, source) for name, source in sources if not (ROOT / source).exists()]
    assert not missing, f"bind mounts of paths not in the repo: {missing}"


def test_every_file_compose_refers_to_exists(compose):
    missing = []
    for name, service in compose["services"].items():
        build = service.get("build")
        if isinstance(build, str):
            build = {"context": build}
        if build:
            context = ROOT / resolve_defaults(build.get("context", "."))
            dockerfile = context / resolve_defaults(build.get("dockerfile", "Dockerfile"))
            missing += [(name, p) for p in (context, dockerfile) if not p.exists()]
        env_files = service.get("env_file", [])
        for entry in [env_files] if isinstance(env_files, str | dict) else env_files:
            path, required = (
                (entry, True) if isinstance(entry, str) else (entry["path"], entry.get("required", True))
            )
            if required and not (ROOT / resolve_defaults(path)).exists():
                missing.append((name, path))
    assert not missing, f"compose refers to missing files: {missing}"


def test_every_path_the_dockerfile_copies_exists():
    sources = []
    for line in DOCKERFILE.read_text().splitlines():
        if line.strip().upper().startswith(("COPY ", "ADD ")):
            args = [a for a in line.split()[1:] if not a.startswith("--")]
            sources += args[:-1]
    assert "requirements.txt" in sources and "include/" in sources
    missing = [s for s in sources if not (ROOT / s).exists()]
    assert not missing, f"docker/Dockerfile copies paths not in the repo: {missing}"


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_project_directories_survive_a_clone():
    """Git keeps no empty directory, and the image build and the bind mounts need every one of them."""
    empty = [d for d in PROJECT_DIRS if (ROOT / d).is_dir() and not any((ROOT / d).iterdir())]
    assert not empty, f"{empty} are empty: add a README.md so a fresh clone has them"


# --- secrets ----------------------------------------------------------------------------------------


def test_no_literal_secret_values(compose):
    leaks = []
    for path, key, value in walk(compose):
        if isinstance(key, str) and SECRET_KEY.search(key) and not isinstance(value, dict | list):
            if key.upper().endswith("_FILE"):
                assert str(value).startswith("/"), f"{path}: a *_FILE setting should be a path"
            elif not is_secret_reference(value):
                leaks.append(f"{path}={value!r}")
        if isinstance(value, list):
            for flag, argument in zip(value, value[1:], strict=False):
                if isinstance(flag, str) and SECRET_FLAG.match(flag) and not is_secret_reference(argument):
                    leaks.append(f"{path}: {flag} {argument!r}")
    assert not leaks, (
        "secrets must come from ${VAR:?...} interpolation, never a literal or a default:\n" + "\n".join(leaks)
    )


def test_no_password_in_a_url(compose):
    leaks = []
    for path, _, value in walk(compose):
        if not isinstance(value, str):
            continue
        masked = INTERPOLATION.sub(
            lambda m: PLACEHOLDER if is_secret_reference(m.group(0)) else "<default>", value
        )
        for match in URL_USERINFO.finditer(masked):
            if match["password"] not in ("", PLACEHOLDER):
                leaks.append(f"{path}: {value}")
    assert not leaks, "URL passwords must be a required ${VAR:?...}:\n" + "\n".join(leaks)


def test_secret_checks_catch_literals():
    """The two checks above must fail on the mistakes they exist for."""
    assert not is_secret_reference("airflow")
    assert not is_secret_reference("${JWT_SECRET:-airflow_jwt_secret}")
    assert is_secret_reference("${JWT_SECRET:?set JWT_SECRET}") and is_secret_reference("${JWT_SECRET:-}")
    assert URL_USERINFO.search("postgresql://airflow:airflow@postgres/airflow")["password"] == "airflow"


# --- versions ---------------------------------------------------------------------------------------


def test_images_match_the_airflow_pin_and_project_python(compose):
    expected = f"{airflow_pin()}-python{project_python()}"
    base = dockerfile_base()
    assert base == f"apache/airflow:{expected}", (
        f"docker/Dockerfile FROM {base}, requirements pin apache-airflow {expected}"
    )
    for name in AIRFLOW_SERVICES:
        image = resolve_defaults(compose["services"][name]["image"])
        assert image.endswith(f":{expected}"), (
            f"{name} image {image} does not match apache-airflow {expected}"
        )
