"""The demo tenants' numbers and zones (demo/salon.yaml, demo/pizzeria.yaml), as tests and benches dial
and read them. Plain constants: the voice worker's tests import them in job processes too."""
import zoneinfo

SALON_NUMBER = "+15550100001"
PIZZERIA_NUMBER = "+493055500002"
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")  # the salon's zone
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")  # the pizzeria's zone
