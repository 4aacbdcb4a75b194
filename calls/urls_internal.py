"""/internal/ on the platform's public host: the voice worker's API (see docs/internal-api.md)."""
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView

from calls import api

urlpatterns = [
    path("calls/start", api.CallStartView.as_view(), name="internal-call-start"),
    path("calls/<str:call_id>/log", api.CallLogView.as_view(), name="internal-call-log"),
    *[path(f"voice-tools/{view.tool_name}", view.as_view(), name=f"internal-tool-{view.tool_name}") for view in api.TOOL_VIEWS],
    path("voice-tools/<str:action>", api.UnknownToolView.as_view(), name="internal-tool-unknown"),
    # The schema is public: it describes the contract, and every endpoint in it authenticates.
    path("schema/", SpectacularAPIView.as_view(
        urlconf="soniq_site.urls_public", authentication_classes=[], permission_classes=[],
    ), name="internal-schema"),
    re_path(r"^.*$", api.internal_not_found),
]
