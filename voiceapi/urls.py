"""/internal/ on the platform's public host: the voice worker's API (see docs/internal-api.md)."""
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView

from core.call_contract import TOOLS
from voiceapi import tools
from voiceapi import views as api

urlpatterns = [
    path("calls/start", api.CallStartView.as_view(), name="internal-call-start"),
    path("calls/<str:call_id>/log", api.CallLogView.as_view(), name="internal-call-log"),
    path("calls/<str:call_id>/callback-attempt", api.CallbackAttemptView.as_view(),
         name="internal-call-callback-attempt"),
    path("calls/<str:call_id>/recording", api.CallRecordingView.as_view(), name="internal-call-recording"),
    # One route per tool of core.call_contract.TOOLS, named as the worker's function tool is.
    *(path(f"voice-tools/{tool.name}", tools.VIEWS[tool.name].as_view(), name=f"internal-tool-{tool.name}")
      for tool in TOOLS),
    path("voice-tools/<str:action>", tools.UnknownToolView.as_view(), name="internal-tool-unknown"),
    # The schema is public: it describes the contract, and every endpoint in it authenticates.
    path("schema/", SpectacularAPIView.as_view(
        urlconf="soniq_site.urls_public", authentication_classes=[], permission_classes=[],
    ), name="internal-schema"),
    re_path(r"^.*$", api.internal_not_found),
]
