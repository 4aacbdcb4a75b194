"""Test plumbing shared by every package's tests (the demo tenants, a live server, a real Celery
worker, the local stand-ins for SMTP, SignalWire, webhook receivers and the LLM, and the follow-up
recorder). Nothing in production imports it: `.importlinter` forbids it."""
