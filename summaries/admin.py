"""Summaries are shown on the call page (templates/admin/soniq/call_change_form.html) and the
dashboard; they have no admin page of their own."""
