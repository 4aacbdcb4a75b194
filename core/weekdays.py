"""The one weekday table: Monday is 0, as `datetime.date.weekday()` counts."""

WEEKDAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# Model choices for a weekday column.
WEEKDAYS = list(enumerate(WEEKDAY_NAMES))
# How a provisioning spec names the days (`hours: {mon: [...]}`).
WEEKDAY_KEYS = [name[:3].lower() for name in WEEKDAY_NAMES]
