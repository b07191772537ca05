"""Capture: conversations the owner had elsewhere, logged by themselves (issue 16).

Mail over IMAP (headers only: node/capture/mail.py, node/capture/imap.py), calendars over CalDAV
(node/capture/caldav.py) and from files (bridges/ical.py), the links that reach them (node/capture/links.py),
and the correspondents proposed as new people (node/capture/proposals.py).
"""

from node.capture.imap import CaptureResult

__all__ = ["CaptureResult"]
