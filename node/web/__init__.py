"""The owner's web UI, served by the node itself: server-rendered pages (Jinja2, autoescaped) with a little
progressive enhancement in static/kith.js; every page works without JavaScript.

Pages: home (due, fading, recent, Dunbar warnings), people, a person, duplicates, import, connections,
organisation (node/web/views_org.py), settings. Login with the owner token or a password (`kith password set`). See node/web/framework.py for the
rules every page and form keeps (sessions, CSRF, redirects after POST, security headers).
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from node.server import Server
from node.web import (
    views_auth,
    views_connections,
    views_home,
    views_import,
    views_merges,
    views_org,
    views_people,
    views_person,
    views_settings,
)
from node.web.disclosure import disclosure_settings
from node.web.framework import ROUTES, WEB_APP, WebApp, web_middleware
from node.web.helpers import FILTERS
from node.web.sessions import LoginLimiter

__all__ = ["disclosure_settings", "setup_web"]

_HERE = Path(__file__).parent
_VIEWS = (
    views_auth,
    views_home,
    views_people,
    views_person,
    views_merges,
    views_import,
    views_connections,
    views_org,
    views_settings,
)  # imported for their routes


def setup_web(app: web.Application, server: Server) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.globals["static"] = _static_url
    app[WEB_APP] = WebApp(server=server, limiter=LoginLimiter(), secure_cookies=server.config.node.https)
    app.middlewares.append(web_middleware)
    app.router.add_static("/static/", _HERE / "static", name="static", append_version=False)
    # Fixed paths before patterns, so that /people/new is never read as the person "new".
    for route in sorted(ROUTES, key=lambda r: "{" in r.path):
        app.router.add_route(route.method, route.path, route.handler, name=f"web_{route.name}")


def _static_url(name: str) -> str:
    # The file's modification time in the URL lets browsers cache static files for good between releases.
    return f"/static/{name}?v={int((_HERE / 'static' / name).stat().st_mtime)}"
