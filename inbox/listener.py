"""The HL7 v2 listener: MLLP over TCP (python-hl7's asyncio server), one clinic per listener.

Each message is stored before it is answered: the ACK (AA, AE or AR with the reason) goes out only
once the row is committed, and processing is queued after that commit. The database work runs in
a thread (the ORM is synchronous); the event loop only reads and writes frames. At start-up the
listener processes what an earlier run stored but never saw processed, so a listener killed
between storing and processing loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from asyncio import IncompleteReadError

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connections
from hl7.mllp import InvalidBlockError, start_hl7_server

from inbox import readers, services
from patients.models import Clinic

logger = logging.getLogger(__name__)
# A frame larger than this is refused (a result message is a few kB; a PDF belongs in FHIR).
MAX_FRAME = 1024 * 1024


def _decode(block: bytes) -> str:
    # HL7 v2 is often 8-bit (MSH-18 rarely set): UTF-8 when it is, Latin-1 (never fails) otherwise.
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        return block.decode("latin-1")


class Listener:
    def __init__(
        self,
        *,
        clinic: Clinic,
        host: str = "127.0.0.1",
        port: int = 2575,
        enqueue: services.Enqueue | None = None,
        application: str = "PREOP",
    ) -> None:
        self.clinic, self.host, self.port = clinic, host, port
        self.enqueue, self.application = enqueue, application
        self.server: asyncio.Server | None = None
        self.sweeping: asyncio.Task[None] | None = None

    def _receive(self, text: str, peer: str) -> tuple[str, services.Receipt]:
        close_old_connections()  # a long-lived process: drop a connection the database closed
        receipt = services.hl7_receive(clinic=self.clinic, raw=text, peer=peer, enqueue=self.enqueue)
        ack = readers.hl7_ack(text, code=receipt.ack_code, text=receipt.text, application=self.application)
        return ack, receipt

    def _sweep(self) -> int:
        try:
            ids = services.pending_ids(limit=100_000)
            for message_id in ids:
                services.message_process(message_id=message_id)
            return len(ids)
        finally:
            connections.close_all()  # this worker thread's own connection

    async def _sweep_in_background(self) -> None:
        # Its own thread (not the one storing messages): a long backlog never delays an ACK.
        try:
            swept = await sync_to_async(self._sweep, thread_sensitive=False)()
        except Exception:
            logger.exception("hl7 listener: start-up sweep failed; the beat sweep will take the messages")
            return
        if swept:
            logger.info("hl7 listener: %d stored messages processed at start-up", swept)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        where = peer[0] if isinstance(peer, tuple) else ""
        receive = sync_to_async(self._receive, thread_sensitive=True)
        try:
            while True:
                try:
                    block = await reader.readblock()  # type: ignore[attr-defined]
                except (IncompleteReadError, ConnectionError):
                    break  # the sender closed the connection
                except InvalidBlockError:
                    ack = readers.hl7_ack("", code="AR", text="malformed: frame without <VT> start block")
                    writer.writeblock(ack.encode())  # type: ignore[attr-defined]
                    await writer.drain()
                    continue
                except ValueError:
                    ack = readers.hl7_ack("", code="AR", text="malformed: frame larger than the limit")
                    writer.writeblock(ack.encode())  # type: ignore[attr-defined]
                    await writer.drain()
                    continue
                text = _decode(block)
                try:
                    ack, _receipt = await receive(text, where)
                except Exception:
                    # Not stored (the database is down): a negative ACK, so the lab sends it again.
                    logger.exception("hl7 listener: message not stored")
                    ack = readers.hl7_ack(text, code="AE", text="not stored: temporary error, send again")
                writer.writeblock(ack.encode("utf-8"))  # type: ignore[attr-defined]
                await writer.drain()
        finally:
            writer.close()

    async def start(self) -> asyncio.Server:
        self.server = await start_hl7_server(self.handle, self.host, self.port, limit=MAX_FRAME)
        self.sweeping = asyncio.get_running_loop().create_task(self._sweep_in_background())
        return self.server

    async def serve_forever(self) -> None:
        server = await self.start()
        async with server:
            await server.serve_forever()
