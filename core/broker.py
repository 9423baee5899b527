"""The embedded default's broker: kombu's file-system transport, with whole messages.

kombu writes a message file in place (create, then write), and a consumer that lists the
folder between the two moves the empty file away and fails to decode it
(celery/kombu#1551), which stops the worker. Here a message is written under a name no
consumer looks at and renamed into place when complete: rename is atomic within a folder.
Used only when CELERY_BROKER_URL is ``filesystem://`` (``make run``); production uses
Redis or RabbitMQ.
"""
from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        # Consumers take files named "<anything>.<queue>.msg"; ".part-..." is never one.
        partial = os.path.join(self.data_folder_out, f".part-{uuid.uuid4().hex}")
        try:
            with open(partial, "wb") as fh:
                fh.write(str_to_bytes(dumps(payload)))
            os.replace(partial, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            raise ChannelError(f"Cannot add message {name!r} to {self.data_folder_out!r}") from exc


class Transport(filesystem.Transport):
    Channel = Channel
