import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "k3y-" + "x7Q9vR2mL8pZ4tW6yB1nC5dF0gH3jK" * 2,
    "ALLOWED_HOSTS": "soniq.example.com,.soniq.example.com",
    "INTERNAL_API_TOKEN": "a-long-random-internal-token-of-43-characters",
}


def manage(*args: str, extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in {"DEBUG", "SECRET_KEY"}}
    env.update(extra_env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_the_deploy_check_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "DEBUG", extra_env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {**PRODUCTION_ENV, "SECRET_KEY": ""}
    result = manage("check", extra_env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_docker_compose_runs_the_whole_stack_with_the_same_environment():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "celery", "voiceworker"} <= set(services)
    documented = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
                  if "=" in line and not line.startswith("#")}
    for name in ("web", "celery", "voiceworker"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert environment["REDIS_URL"].startswith("redis://")
        assert set(environment) <= documented | {"DJANGO_SETTINGS_MODULE"}, set(environment) - documented


def test_the_deploy_check_warns_about_a_missing_or_short_internal_token_and_a_wildcard_host():
    for overrides, expected in (({"INTERNAL_API_TOKEN": ""}, "soniq.W001"),
                                ({"INTERNAL_API_TOKEN": "dev-internal-token"}, "soniq.W002"),
                                ({"ALLOWED_HOSTS": "*"}, "soniq.W003"),
                                ({"ALLOWED_HOSTS": "soniq.example.com,*"}, "soniq.W003")):
        result = manage("check", "--deploy", "--fail-level", "WARNING", extra_env={**PRODUCTION_ENV, **overrides})
        assert result.returncode != 0, overrides
        assert expected in result.stderr + result.stdout, (overrides, result.stderr)
