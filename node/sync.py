"""Live syncs of follow lists (Mastodon, Bluesky, X) into the graph, resumable page by page (docs/ARCHITECTURE.md §7).

Rules kept:
- A link (source, account, base URL, credentials) is stored once by ``kith link``; credentials are sealed with
  the owner's passphrase when one is set (node/link_secrets.py), else stored plain and the caller warns.
- Every page is imported in one transaction together with the cursor that follows it, so a kill between pages
  loses nothing and repeats nothing: the next run resumes after the last page that was kept.
- A rate limit keeps what was fetched, stores the cursor of the refused page and ``resume_at``; a sync before
  that time returns at once without calling the silo. Only a refused token the owner gave marks the link
  revoked and stops it until the owner links the account again (bridges.live.Revoked, docs/SILOS.md §2); a
  401 to a request without a token, or to a token sent where it is not valid (bridges.live.AuthProblem),
  says what to change and keeps the link. X tokens refreshed during a sync are stored again, sealed as before.
- A Bluesky token is its PDS's: a link pairing one with Bluesky's App View is refused when it is made.
- The HTTP session is passed in (tests use loopback servers).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import aiohttp

from bridges import bluesky, mastodon, x
from bridges.live import CAP, AuthProblem, LiveError, Page, RateLimited, Revoked
from bridges.oauth import OAuthTokens
from node.errors import BadInput, Conflict, NotFound
from node.graph import Clock, iso, utcnow
from node.importer import Importer
from node.link_secrets import SecretError, open_secret, seal
from node.store import GraphStore
from node.store.imports import ImportSession

__all__ = ["DIRECTIONS", "SOURCES", "LinkInfo", "SyncResult", "Syncer"]

SOURCES = ("mastodon", "bluesky", "x")
DIRECTIONS = ("following", "followers")
_DEFAULT_BASE = {"bluesky": bluesky.PUBLIC_APPVIEW, "x": x.X_API}


@dataclass(frozen=True, kw_only=True, slots=True)
class LinkInfo:
    """A link as shown to the owner: never the credentials."""

    source: str
    account: str
    base_url: str
    status: str
    encrypted: bool
    resume_at: str | None
    last_sync_at: str | None
    last_error: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class SyncResult:
    source: str
    account: str
    direction: str
    status: str  # complete, capped, rate-limited, waiting (an earlier rate limit), revoked
    pages: int
    fetched: int
    people_created: int
    people_updated: int
    identities_added: int
    merged_automatically: int
    suggestions_made: int
    resume_at: str | None
    message: str


class Syncer:
    def __init__(
        self, store: GraphStore, importer: Importer, *, passphrase: str | None, clock: Clock = utcnow
    ) -> None:
        self.store = store
        self.importer = importer
        self.passphrase = passphrase
        self.clock = clock

    async def link(
        self, *, source: str, account: str, base_url: str | None, credentials: dict[str, Any]
    ) -> LinkInfo:
        """Store (or replace) a link. Returns it; ``encrypted`` is False when no passphrase is set."""
        if source not in SOURCES:
            raise BadInput(f"live sync exists for {', '.join(SOURCES)}, not {source!r}", field="source")
        account = account.strip()
        if not account or len(account) > 300:
            raise BadInput(
                "account must name the owner's account on the silo (an id, handle or DID)", field="account"
            )
        base = (base_url or _DEFAULT_BASE.get(source, "")).rstrip("/")
        if not base.startswith(("https://", "http://")):
            raise BadInput(f"{source} needs --base-url, the server's https:// address", field="base_url")
        if source == "x" and not (credentials.get("access_token") and credentials.get("client_id")):
            raise BadInput("an X link needs an access token and the app's client id", field="credentials")
        if source == "bluesky" and credentials.get("token") and bluesky.is_appview(base):
            raise BadInput(
                f"{base} is Bluesky's App View, which reads follows without a token and cannot take one: a "
                "Bluesky token is valid only at your PDS. Give --base-url https://<your PDS> with the token, "
                "or leave the token out",
                field="base_url",
            )
        secret = seal(credentials, passphrase=self.passphrase, source=source, account=account)
        await self.store.links.put(
            source=source, account=account, base_url=base, secret=secret, now=self.clock()
        )
        return (await self.links(source, account))[0]

    async def links(self, source: str, account: str | None = None) -> list[LinkInfo]:
        rows = await self.store.links.get(source, account)
        return [
            LinkInfo(
                source=r.source,
                account=r.account,
                base_url=r.base_url,
                status=r.status,
                encrypted=r.secret.startswith("enc:"),
                resume_at=r.resume_at,
                last_sync_at=r.last_sync_at,
                last_error=r.last_error,
            )
            for r in rows
        ]

    def _now(self) -> str:
        return iso(self.clock())

    async def sync(
        self,
        source: str,
        *,
        session: aiohttp.ClientSession,
        account: str | None = None,
        direction: str = "following",
        cap: int = CAP,
        on_page: Callable[[int, int], None] | None = None,
    ) -> SyncResult:
        """Fetch and import ``direction`` of the link's account; ``on_page(pages, accounts)`` after each page."""
        if source not in SOURCES:
            raise BadInput(f"live sync exists for {', '.join(SOURCES)}, not {source!r}", field="source")
        if direction not in DIRECTIONS:
            raise BadInput("direction must be following or followers", field="direction")
        rows = await self.store.links.get(source, account)
        if not rows:
            raise NotFound(
                f"no {source} link{' for ' + account if account else ''}; "
                f"store one with `kith link {source} --account ... --token ...`",
                field="source",
            )
        if len(rows) > 1:
            names = ", ".join(r.account for r in rows)
            raise BadInput(f"several {source} links ({names}); choose one with --account", field="account")
        row = rows[0]
        acct = row.account

        def result(status: str, message: str, **counts: Any) -> SyncResult:
            base = dict.fromkeys(
                ("pages", "fetched", "people_created", "people_updated", "identities_added"), 0
            ) | {"merged_automatically": 0, "suggestions_made": 0, "resume_at": None}
            return SyncResult(
                source=source,
                account=acct,
                direction=direction,
                status=status,
                message=message,
                **(base | counts),
            )

        if row.status == "revoked":
            raise Conflict(
                f"the {source} link for {acct} was revoked ({row.last_error or '401'}); link the account again",
                field="source",
            )
        if row.resume_at and row.resume_at > self._now():
            return result(
                "waiting", f"rate limited by {source} until {row.resume_at}", resume_at=row.resume_at
            )
        try:
            creds = open_secret(row.secret, passphrase=self.passphrase, source=source, account=acct)
        except SecretError as exc:
            raise Conflict(str(exc), field="passphrase") from None
        cursor = await self.store.links.cursor(source, acct, direction)
        x_auth: x.XAuth | None = None
        if source == "x":
            x_auth = x.XAuth(
                tokens=OAuthTokens.from_json(creds),
                client_id=str(creds["client_id"]),
                client_secret=creds.get("client_secret"),
                token_url=str(creds.get("token_url") or x.X_TOKEN),
            )
        pages = _fetcher(
            source, session, row.base_url, acct, direction, creds, x_auth, cursor, cap, self.clock
        )
        totals = dict.fromkeys(
            (
                "pages",
                "fetched",
                "people_created",
                "people_updated",
                "identities_added",
                "merged_automatically",
                "suggestions_made",
            ),
            0,
        )
        status, message, resume_at = "complete", "", None
        try:
            async for item in await pages:
                if isinstance(item, RateLimited):
                    resume_at = iso(item.resume_at)
                    await self.store.links.set_cursor(source, acct, direction, item.cursor, self.clock())
                    await self.store.links.update(
                        source,
                        acct,
                        self.clock(),
                        resume_at=item.resume_at,
                        last_error=f"rate limited until {resume_at}",
                    )
                    status, message = (
                        "rate-limited",
                        f"{source} asked us to wait until {resume_at}; run again then",
                    )
                    continue  # the fetcher ends after a rate limit
                summary = await self.importer.import_items(
                    source,
                    item.drafts,
                    name=f"{source} {direction}",
                    then=_keep_cursor(source, acct, direction, item),
                )
                totals["pages"] += 1
                totals["fetched"] += len(item.drafts)
                for key in (
                    "people_created",
                    "people_updated",
                    "identities_added",
                    "merged_automatically",
                    "suggestions_made",
                ):
                    totals[key] += getattr(summary, key)
                if on_page is not None:
                    on_page(totals["pages"], totals["fetched"])
                if item.capped:
                    status, message = "capped", f"stopped at {cap:,} accounts, the most one sync takes"
        except Revoked as exc:
            await self.store.links.update(source, acct, self.clock(), status="revoked", last_error=str(exc))
            status, message = "revoked", str(exc)
        except AuthProblem as exc:
            await self.store.links.update(source, acct, self.clock(), last_error=str(exc))
            raise BadInput(f"{source} sync stopped: {exc}", field="source") from None
        except LiveError as exc:
            await self.store.links.update(source, acct, self.clock(), last_error=str(exc))
            raise BadInput(f"{source} sync stopped: {exc}; run it again to resume", field="source") from None
        finally:
            if x_auth is not None and x_auth.tokens.to_json() != OAuthTokens.from_json(creds).to_json():
                fresh = creds | x_auth.tokens.to_json()
                secret = seal(fresh, passphrase=self.passphrase, source=source, account=acct)
                await self.store.links.update(source, acct, self.clock(), secret=secret)
        if status in ("complete", "capped"):
            now = self.clock()
            await self.store.links.update(
                source, acct, now, last_sync_at=now, resume_at=None, last_error=None
            )
            message = message or f"synced {totals['fetched']:,} accounts"
        return result(status, message, resume_at=resume_at, **totals)


def _keep_cursor(
    source: str, account: str, direction: str, page: Page
) -> Callable[[ImportSession], Awaitable[None]]:
    async def then(session: ImportSession) -> None:
        await session.save_cursor(source=source, account=account, direction=direction, cursor=page.cursor)

    return then


async def _fetcher(
    source: str,
    session: aiohttp.ClientSession,
    base_url: str,
    account: str,
    direction: str,
    creds: dict[str, Any],
    x_auth: x.XAuth | None,
    cursor: dict[str, Any] | None,
    cap: int,
    now: Callable[[], datetime],
) -> AsyncIterator[Page | RateLimited]:
    token = creds.get("token") or creds.get("access_token")
    which: Literal["following", "followers"] = "followers" if direction == "followers" else "following"
    if source == "mastodon":
        account_id = account
        if not account_id.isdigit():  # user@host: follow lists are keyed by the instance's own id
            account_id = await mastodon.lookup_account_id(
                session, base_url=base_url, acct=account, token=token
            )
        return mastodon.sync_follows(
            session,
            direction=which,
            base_url=base_url,
            account_id=account_id,
            token=token,
            cursor=cursor,
            cap=cap,
            now=now,
        )
    if source == "bluesky":
        return bluesky.sync_follows(
            session,
            direction=which,
            actor=account,
            base_url=base_url,
            token=token,
            cursor=cursor,
            cap=cap,
            now=now,
        )
    assert x_auth is not None
    return x.sync_follows(
        session,
        direction=which,
        user_id=account,
        auth=x_auth,
        base_url=base_url,
        cursor=cursor,
        cap=cap,
        now=now,
    )
