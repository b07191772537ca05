"""The Bluesky side of the bridge node (issue #18): who consented to be bridged, read from a PDS and the PLC
directory, and the public card of each. The node side (node/bridge_bluesky.py) turns them into accounts of the
server; this package imports only protocol/ (docs/ARCHITECTURE.md §2)."""

from bridges.bluesky_bridge.asks import Ask, Unclear, parse_ask, reply_record
from bridges.bluesky_bridge.bot import BlueskyBot, BotError
from bridges.bluesky_bridge.consent import (
    NO_BRIDGE,
    NO_UNAUTHENTICATED,
    Account,
    Decision,
    Gates,
    decide,
    denied,
    label_values,
)
from bridges.bluesky_bridge.reader import BlueskyReader, ReadError, card_fields
from bridges.bluesky_bridge.stream import Event, StreamError, concerns, decode_event, stream_url

__all__ = [
    "NO_BRIDGE",
    "NO_UNAUTHENTICATED",
    "Account",
    "Ask",
    "BlueskyBot",
    "BlueskyReader",
    "BotError",
    "Decision",
    "Event",
    "Gates",
    "ReadError",
    "StreamError",
    "Unclear",
    "card_fields",
    "concerns",
    "decide",
    "decode_event",
    "denied",
    "label_values",
    "parse_ask",
    "reply_record",
    "stream_url",
]
