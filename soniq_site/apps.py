from django.apps import AppConfig


class SoniqSiteConfig(AppConfig):
    name = "soniq_site"
    verbose_name = "Soniq site"

    def ready(self) -> None:
        from soniq_site import checks  # noqa: F401 - registers the deploy checks
