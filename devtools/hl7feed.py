"""A lab's side of MLLP for the demo, the tests and the benchmark: send HL7 v2 messages, read the ACKs.

Framing is python-hl7's (``open_hl7_connection``: <VT> message <FS><CR>), never hand-made.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Sequence

from hl7.mllp import open_hl7_connection


async def send_async(host: str, port: int, messages: Sequence[str], *, timeout: float = 30.0) -> list[str]:
    """Send ``messages`` one after the other on one connection; each ACK is awaited before the next."""
    reader, writer = await asyncio.wait_for(open_hl7_connection(host, port), timeout)
    acks = []
    try:
        for text in messages:
            writer.writeblock(segments(text).encode("utf-8"))
            await writer.drain()
            block = await asyncio.wait_for(reader.readblock(), timeout)
            acks.append(block.decode("utf-8", errors="replace"))
    finally:
        writer.close()
    return acks


def send(host: str, port: int, messages: Sequence[str], *, timeout: float = 30.0) -> list[str]:
    return asyncio.run(send_async(host, port, messages, timeout=timeout))


def segments(text: str) -> str:
    """Segments separated by CR as on the wire (sample files are written with line feeds)."""
    return "\r".join(line for line in re.split(r"\r\n|\n|\r", text.strip()) if line) + "\r"


def restamp(text: str, when: dt.datetime) -> str:
    """The sample's times (MSH-7, OBR-7, OBX-14) set to ``when``: a demo result is always fresh."""
    stamp = when.strftime("%Y%m%d%H%M%S%z")
    out = []
    for line in re.split(r"\r\n|\n|\r", text.strip()):
        fields = line.split("|")
        for segment, index in (("MSH", 6), ("OBR", 7), ("OBX", 14)):
            if fields[0] == segment and len(fields) > index and fields[index]:
                fields[index] = stamp
        out.append("|".join(fields))
    return "\r".join(out) + "\r"


def ack_code(ack: str) -> tuple[str, str]:
    """(MSA-1, MSA-3) of an ACK."""
    for line in re.split(r"\r\n|\n|\r", ack):
        if line.startswith("MSA|"):
            fields = line.split("|")
            return fields[1], fields[3] if len(fields) > 3 else ""
    return "", ""
