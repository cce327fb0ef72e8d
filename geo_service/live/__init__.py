"""The live event stream: the per-process hub that reads the outbox once (`hub`), and one
client's Server-Sent Events stream with replay (`stream`)."""

from geo_service.live.hub import Hub, Subscription
from geo_service.live.stream import event_stream, parse_event_id, visible_to

__all__ = ["Hub", "Subscription", "event_stream", "parse_event_id", "visible_to"]
