from django.apps import AppConfig


class VoiceworkerConfig(AppConfig):
    # Only here so Django finds the runvoiceworker and callsim commands. The worker imports no models.
    name = "voiceworker"
