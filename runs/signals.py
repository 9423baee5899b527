"""Signals other apps listen to. Sent on commit, so a receiver sees the final state."""
from django.dispatch import Signal

# Sent once when a run reaches a final status (succeeded, failed, stopped): an orchestrated
# run when its steps are done, a tracked run when it is ended; after the transaction that set
# it commits. Keyword argument: run_id.
run_finished = Signal()
