"""/internal/ on the platform's public host: the voice worker's API (see docs/internal-api.md)."""
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView

from voiceapi import tools
from voiceapi import views as api

urlpatterns = [
    path("calls/start", api.CallStartView.as_view(), name="internal-call-start"),
    path("calls/<str:call_id>/log", api.CallLogView.as_view(), name="internal-call-log"),
    path("calls/<str:call_id>/recording", api.CallRecordingView.as_view(), name="internal-call-recording"),
    # One route per tool, named as the worker's function tool is (see voiceapi/tools.py: TOOLS).
    path("voice-tools/check_availability", tools.CheckAvailabilityView.as_view(), name="internal-tool-check_availability"),
    path("voice-tools/create_booking", tools.CreateBookingView.as_view(), name="internal-tool-create_booking"),
    path("voice-tools/create_order", tools.CreateOrderView.as_view(), name="internal-tool-create_order"),
    path("voice-tools/transfer_to_human", tools.TransferToHumanView.as_view(), name="internal-tool-transfer_to_human"),
    path("voice-tools/end_call", tools.EndCallView.as_view(), name="internal-tool-end_call"),
    path("voice-tools/log_note", tools.LogNoteView.as_view(), name="internal-tool-log_note"),
    path("voice-tools/find_bookings", tools.FindBookingsView.as_view(), name="internal-tool-find_bookings"),
    path("voice-tools/reschedule_booking", tools.RescheduleBookingView.as_view(), name="internal-tool-reschedule_booking"),
    path("voice-tools/cancel_booking", tools.CancelBookingView.as_view(), name="internal-tool-cancel_booking"),
    path("voice-tools/order_status", tools.OrderStatusView.as_view(), name="internal-tool-order_status"),
    path("voice-tools/<str:action>", tools.UnknownToolView.as_view(), name="internal-tool-unknown"),
    # The schema is public: it describes the contract, and every endpoint in it authenticates.
    path("schema/", SpectacularAPIView.as_view(
        urlconf="soniq_site.urls_public", authentication_classes=[], permission_classes=[],
    ), name="internal-schema"),
    re_path(r"^.*$", api.internal_not_found),
]
