"""A tenant spec the provisioning tests start from (each test takes a deep copy: the `barber_spec` fixture)."""

BARBER_SPEC = {
    "slug": "barber",
    "name": "Sharp Barbers",
    "domain": "barber.localhost",
    "timezone": "Europe/London",
    "phone_numbers": ["+44 20 7946 0001"],
    "owner": {"email": "Owner@Barber.example", "password": "barber-pass-2026"},
    "agent": {"greeting": "Sharp Barbers, how can I help?", "instructions": "Be brief.", "voice_id": "v1",
              "language": "en", "max_call_seconds": 300, "sms_confirmations": True},
    "hours": {"mon": [["09:00", "12:00"], ["13:00", "18:00"]], "sat": [["10:00", "14:00"]]},
    "closures": ["2026-12-25", {"date": "2026-12-26", "reason": "Boxing Day"}],
    "escalation": {"transfer_to": "+44 20 7946 0999", "hours": {"mon": [["09:00", "17:00"]]}},
    "services": [{"name": "Beard Trim", "duration_minutes": 20, "buffer_minutes": 5, "capacity": 3, "price": "15.50",
                  "currency": "GBP", "aliases": ["beard"]}],
    "menu": [{"name": "Espresso", "price": "2.20", "currency": "GBP", "aliases": ["coffee"]}],
}
