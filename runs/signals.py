"""Signals other apps listen to. Sent on commit, so a receiver sees the final state."""
from django.dispatch import Signal

# Sent once when an orchestrated run reaches a final status (succeeded, failed, stopped),
# after the transaction that set it commits. Keyword argument: run_id.
run_finished = Signal()
