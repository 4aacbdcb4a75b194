from django.apps import AppConfig


class AgentConfig(AppConfig):
    # The agent's settings live in each tenant's schema, while `tenants` itself is a public-schema app;
    # django-tenants routes whole apps, so the per-tenant half of "tenants" is its own app.
    name = "tenants.agent"
    label = "agent"
    verbose_name = "Agent settings"
