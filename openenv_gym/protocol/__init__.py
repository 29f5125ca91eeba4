"""OpenEnv's wire protocol: one sans-I/O core that the server and every client transport use.

Baseline (exactly as upstream): JSON text frames on ``/ws``,
``{"type": "reset"|"step"|"state"|"close"|"mcp", "data": ...}`` from the client, and
``{"type": "observation"|"state"|"error"|"mcp", "data": ...}`` back. The extensions
(:data:`CAPABILITIES`, published by ``GET /capabilities``) are used only on a connection that
negotiated :data:`SUBPROTOCOL` in the WebSocket handshake: an upstream server never selects
it, so a client detects a plain upstream server for free and stays on the baseline.

- :mod:`.wire`: names, the observation envelope in each dialect (0.3.0, 0.10, ours), error frames;
- :mod:`.replies`: reading replies of any dialect (0.10's ``metadata`` becomes ``info``);
- :mod:`.calls`: every request as a :class:`Call` (message + how to read its reply);
- :mod:`.exchange`: request ids, matching replies, when to resume a dropped session.

The protocol is written down in ``docs/protocol.md``.
"""

from .calls import CLOSE, Call, action_payload, by_kind, outcome
from .exchange import Dropped, RequestIds, ResumePlan, may_resume
from .replies import check_reply, result_from_envelope, result_from_reply
from .wire import CAPABILITIES, RESUME_HEADER, SUBPROTOCOL, envelope, envelopes, error_frame, summarize_errors

__all__ = ["CAPABILITIES", "CLOSE", "RESUME_HEADER", "SUBPROTOCOL", "Call", "Dropped", "RequestIds",
           "ResumePlan", "action_payload", "by_kind", "check_reply", "envelope", "envelopes",
           "error_frame", "may_resume", "outcome", "result_from_envelope", "result_from_reply",
           "summarize_errors"]
