"""The CardDAV service's store on PostgreSQL (node/store/dav.py; the SQLite engine's node/store/sqlite/dav.py,
statement for statement, which says how the change log behind sync tokens and ETags works). The log
(``dav_card``, ``dav_departure``) is kept by the triggers of graph migration 0002_parts.sql, as SQLite's by
those of its migration 0009.

Where the engines differ: circle names compare through ``nocase`` (SQLite's circle.name is COLLATE NOCASE), and
IN lists are one array parameter (``= ANY(%s)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from node.dav_records import (
    ALL_BOOK,
    AppPassword,
    Book,
    CardIdentity,
    CardRef,
    CardRow,
    GroupEdit,
    PersonEdit,
)
from node.errors import Conflict, NotFound
from node.store.dav_rows import (
    CARD_FIELDS,
    CARD_JOIN,
    card_extra,
    card_ref,
    card_rows,
    circle_changes,
    circle_of_book,
    expect_seq,
    extra_json,
    grouped,
    identities_by_person,
    identities_gone,
    notes_kept,
)
from node.store.postgres.db import PgDatabase
from node.store.postgres.people import attach_identity, recompute_due
from node.store.postgres.person_rows import nocase, refresh_fts
from node.store.postgres.rows import Conn, fetch_all, fetch_one

__all__ = ["PgDav"]


_CHUNK = 500
_CIRCLE_NAMED = f"{nocase('name')} = {nocase('%s')}"  # the circle of this name (circle_name's key)


async def _circle_pk(conn: Conn, book: str) -> int:
    """The circle behind a published book, or NotFound (an unknown or unpublished circle is no book)."""
    row = await fetch_one(
        conn, "SELECT c.pk FROM circle c JOIN dav_book b ON b.circle_pk = c.pk WHERE c.id = %s", (book,)
    )
    if row is None:
        raise NotFound(f"no address book {book!r}", field="book")
    return int(row[0])


def _live_sql(book_circle: int | None) -> tuple[str, list[Any]]:
    """A condition on ``d`` (dav_card) LEFT JOIN ``p`` (person) LEFT JOIN ``c`` (circle): the card is in the
    book now. The All book also holds a group card per circle."""
    if book_circle is None:
        return "((p.status = 'active') OR (c.pk IS NOT NULL))", []
    return (
        "(p.status = 'active' AND EXISTS (SELECT 1 FROM circle_member m WHERE m.person_pk = p.pk "
        "AND m.circle_pk = %s))",
        [book_circle],
    )


class PgDav:
    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    # -- books and the change counter -------------------------------------------------------------------------
    async def state(self) -> tuple[str, int]:
        """(the epoch of this database's tokens, the account's change counter now)."""

        async def run(conn: Conn) -> tuple[str, int]:
            epoch = await fetch_one(conn, "SELECT value FROM meta WHERE key = 'dav_epoch'")
            seq = await fetch_one(conn, "SELECT coalesce(max(seq), 0) FROM dav_card")
            return (str(epoch[0]) if epoch else "0", int(seq[0]) if seq else 0)

        return await self.db.read(run)

    async def books(self) -> list[Book]:
        async def run(conn: Conn) -> list[Book]:
            rows = await fetch_all(
                conn,
                "SELECT c.id, c.name FROM dav_book b JOIN circle c ON c.pk = b.circle_pk "
                f"ORDER BY {nocase('c.name')}, c.name",
            )
            return [Book(id=ALL_BOOK, name="All people"), *(Book(id=r[0], name=r[1]) for r in rows)]

        return await self.db.read(run)

    async def publish(self, circle: str, now: str, *, published: bool = True) -> Book:
        async def run(conn: Conn) -> Book:
            row = await fetch_one(conn, f"SELECT pk, id, name FROM circle WHERE {_CIRCLE_NAMED}", (circle,))
            if row is None:
                raise NotFound(f"no circle named {circle!r}; see `kith circle list`", field="circle")
            if published:
                await conn.execute(
                    "INSERT INTO dav_book (circle_pk, published_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (row[0], now),
                )
            else:
                cur = await conn.execute("DELETE FROM dav_book WHERE circle_pk = %s", (row[0],))
                if cur.rowcount == 0:
                    raise NotFound(f"circle {row[2]!r} is not published", field="circle")
            return Book(id=row[1], name=row[2])

        return await self.db.write(run)

    async def listing(self, book: str) -> list[tuple[str, int]]:
        """(href, seq) of every card in the book now."""

        async def run(conn: Conn) -> list[tuple[str, int]]:
            circle = await _circle_pk(conn, book) if circle_of_book(book) else None
            live, params = _live_sql(circle)
            rows = await fetch_all(conn, f"SELECT d.href, d.seq FROM {CARD_JOIN} WHERE {live}", params)
            return [(r[0], r[1]) for r in rows]

        return await self.db.read(run)

    async def changes(self, book: str, since: int) -> list[tuple[str, int, bool]]:
        """(href, seq, live) of every card changed after ``since``, oldest change first. A card that left the
        book, or was never in it, is not live: the client forgets it if it had it."""

        async def run(conn: Conn) -> list[tuple[str, int, bool]]:
            circle = await _circle_pk(conn, book) if circle_of_book(book) else None
            live, params = _live_sql(circle)
            where, extra = "d.seq > %s", [since]
            if circle is not None:  # its members (in any state) and those who left it since
                where += (
                    " AND (d.person_pk IN (SELECT person_pk FROM circle_member WHERE circle_pk = %s) OR "
                    "d.person_pk IN (SELECT person_pk FROM dav_departure WHERE circle_pk = %s AND seq > %s))"
                )
                extra += [circle, circle, since]
            rows = await fetch_all(
                conn,
                f"SELECT d.href, d.seq, {live} FROM {CARD_JOIN} WHERE {where} ORDER BY d.seq",
                [*params, *extra],
            )
            return [(r[0], r[1], bool(r[2])) for r in rows]

        return await self.db.read(run)

    async def lookup(self, book: str, href: str) -> CardRef | None:
        """The card named ``href`` in any state, ``live`` when it is in ``book`` now; None when no card ever had
        that name."""

        async def run(conn: Conn) -> CardRef | None:
            circle = await _circle_pk(conn, book) if circle_of_book(book) else None
            return await _lookup(conn, circle, "d.href = %s", href)

        return await self.db.read(run)

    async def by_uid(self, uid: str) -> CardRef | None:
        """The newest card with this UID (a UID is unique among live cards; the All book's view)."""

        async def run(conn: Conn) -> CardRef | None:
            return await _lookup(conn, None, "d.uid = %s", uid)

        return await self.db.read(run)

    async def cards(self, book: str, hrefs: Sequence[str]) -> list[CardRow]:
        """The cards among ``hrefs`` that are in the book now (the others are missing from the answer)."""

        async def run(conn: Conn) -> list[CardRow]:
            circle = await _circle_pk(conn, book) if circle_of_book(book) else None
            out: list[CardRow] = []
            names = list(dict.fromkeys(hrefs))
            for start in range(0, len(names), _CHUNK):
                out.extend(await _load(conn, circle, names[start : start + _CHUNK]))
            return out

        return await self.db.read(run)

    # -- writes from a client ---------------------------------------------------------------------------------
    async def put_person(
        self, book: str, href: str, uid: str, edit: PersonEdit, *, expect: int | None = None
    ) -> tuple[int, bool]:
        """Create or replace the person card ``href`` as ``edit`` says, in one transaction. Returns (the card's
        seq now, whether it was created). A card created in a circle's book joins that circle. ``expect``: the
        seq the client's condition was checked against (0: no card), checked again here (see _expect)."""

        async def run(conn: Conn) -> tuple[int, bool]:
            circle = await _circle_pk(conn, book) if circle_of_book(book) else None
            ref = await _lookup(conn, circle, "d.href = %s", href)
            expect_seq(ref, expect)
            created = ref is None or ref.person_pk is None or not ref.live
            if ref is not None and ref.person_pk is not None and ref.live:
                pk = ref.person_pk
            elif ref is not None:
                raise Conflict(
                    f"{href} names a card that was removed; save the contact under a new name", field="href"
                )
            else:
                pk = await _new_person(conn, href, uid, edit)
            await _apply_person(conn, pk, edit)
            if created and circle is not None:
                await conn.execute(
                    "INSERT INTO circle_member (circle_pk, person_pk) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (circle, pk),
                )
                await recompute_due(conn, [pk])
            row = await fetch_one(conn, "SELECT seq FROM dav_card WHERE person_pk = %s", (pk,))
            return (int(row[0]) if row else 0, created)

        return await self.db.write(run)

    async def put_group(
        self, href: str, uid: str, edit: GroupEdit, new_circle_id: str, *, expect: int | None = None
    ) -> tuple[int, bool]:
        """Create or replace the group card ``href`` (a circle and its members), in one transaction."""

        async def run(conn: Conn) -> tuple[int, bool]:
            ref = await _lookup(conn, None, "d.href = %s", href)
            expect_seq(ref, expect)
            if ref is not None and ref.circle_pk is None:
                raise Conflict(f"{href} is a person's card, not a group", field="href")
            clash = await fetch_one(conn, f"SELECT pk FROM circle WHERE {_CIRCLE_NAMED}", (edit.name,))
            if ref is not None and ref.live and ref.circle_pk is not None:
                pk = ref.circle_pk
                if clash is not None and clash[0] != pk:
                    raise Conflict(f"there is already a circle named {edit.name!r}", field="FN")
                await conn.execute("UPDATE circle SET name = %s WHERE pk = %s", (edit.name, pk))
                created = False
            elif ref is not None:
                raise Conflict(
                    f"{href} names a group that was removed; save the group under a new name", field="href"
                )
            else:
                if clash is not None:
                    raise Conflict(
                        f"there is already a circle named {edit.name!r}; its group card is in the book",
                        field="FN",
                    )
                made = await fetch_one(
                    conn,
                    "INSERT INTO circle (id, name, created_at) VALUES (%s, %s, %s) RETURNING pk",
                    (new_circle_id, edit.name, edit.now),
                )
                pk = int(made[0]) if made else 0
                await conn.execute(
                    "UPDATE dav_card SET href = %s, uid = %s WHERE circle_pk = %s", (href, uid, pk)
                )
                created = True
            members = await _person_pks_of(conn, edit.members)
            current = {
                r[0]
                for r in await fetch_all(
                    conn, "SELECT person_pk FROM circle_member WHERE circle_pk = %s", (pk,)
                )
            }
            gone, new = current - members, members - current
            async with conn.cursor() as cur:
                if gone:
                    await cur.executemany(
                        "DELETE FROM circle_member WHERE circle_pk = %s AND person_pk = %s",
                        [(pk, p) for p in gone],
                    )
                if new:
                    await cur.executemany(
                        "INSERT INTO circle_member (circle_pk, person_pk) VALUES (%s, %s)",
                        [(pk, p) for p in new],
                    )
            changed = sorted(gone | new)
            for start in range(0, len(changed), _CHUNK):
                await recompute_due(conn, changed[start : start + _CHUNK])
            await conn.execute(
                "UPDATE dav_card SET edited_by = %s, edited_at = %s WHERE circle_pk = %s",
                (edit.edited_by, edit.now, pk),
            )
            row = await fetch_one(conn, "SELECT seq FROM dav_card WHERE circle_pk = %s", (pk,))
            return (int(row[0]) if row else 0, created)

        return await self.db.write(run)

    async def remove(self, book: str, href: str, now: str, *, expect: int | None = None) -> bool:
        """A client deleted a card. From the All book: the person is archived (never deleted: DELETE in a phone
        is too easy to make by mistake), a group card's circle is deleted (its people stay). From a circle's book:
        the person leaves the circle. False when the card is not in the book."""

        async def run(conn: Conn) -> bool:
            circle = await _circle_pk(conn, book) if circle_of_book(book) else None
            ref = await _lookup(conn, circle, "d.href = %s", href)
            if ref is None or not ref.live:
                return False
            expect_seq(ref, expect)
            if ref.circle_pk is not None:
                members = [
                    r[0]
                    for r in await fetch_all(
                        conn, "SELECT person_pk FROM circle_member WHERE circle_pk = %s", (ref.circle_pk,)
                    )
                ]
                await conn.execute("DELETE FROM circle WHERE pk = %s", (ref.circle_pk,))
                for start in range(0, len(members), _CHUNK):
                    await recompute_due(conn, members[start : start + _CHUNK])
            elif circle is not None:
                await conn.execute(
                    "DELETE FROM circle_member WHERE circle_pk = %s AND person_pk = %s",
                    (circle, ref.person_pk),
                )
                await recompute_due(conn, [ref.person_pk or 0])
            else:
                await conn.execute(
                    "UPDATE person SET status = 'archived', updated_at = %s WHERE pk = %s",
                    (now, ref.person_pk),
                )
            return True

        return await self.db.write(run)

    async def provenance(self, person_id: str) -> tuple[str | None, str | None, dict[str, Any]]:
        """(the app password of the last CardDAV edit of this person, when, what that card said that the graph
        has no field for), or (None, None, {})."""

        async def run(conn: Conn) -> tuple[str | None, str | None, dict[str, Any]]:
            row = await fetch_one(
                conn,
                "SELECT d.edited_by, d.edited_at, d.extra FROM dav_card d JOIN person p ON p.pk = d.person_pk "
                "WHERE p.id = %s",
                (person_id,),
            )
            return (None, None, {}) if row is None else (row[0], row[1], card_extra(row[2]))

        return await self.db.read(run)

    # -- app passwords ----------------------------------------------------------------------------------------
    async def add_password(self, name: str, hashed: str, now: str) -> None:
        async def run(conn: Conn) -> None:
            cur = await conn.execute(
                "INSERT INTO app_password (name, hash, created_at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (name, hashed, now),
            )
            if cur.rowcount == 0:
                raise Conflict(
                    f"there is already an app password named {name!r}; revoke it first "
                    f"(`kith app-password revoke {name}`) or choose another name",
                    field="name",
                )

        await self.db.write(run)

    async def passwords(self) -> list[AppPassword]:
        async def run(conn: Conn) -> list[AppPassword]:
            rows = await fetch_all(
                conn, "SELECT name, created_at, last_used_at FROM app_password ORDER BY name"
            )
            return [AppPassword(name=r[0], created_at=r[1], last_used_at=r[2]) for r in rows]

        return await self.db.read(run)

    async def password_hashes(self) -> list[tuple[str, str]]:
        async def run(conn: Conn) -> list[tuple[str, str]]:
            return [(r[0], r[1]) for r in await fetch_all(conn, "SELECT name, hash FROM app_password")]

        return await self.db.read(run)

    async def revoke_password(self, name: str) -> None:
        async def run(conn: Conn) -> None:
            cur = await conn.execute("DELETE FROM app_password WHERE name = %s", (name,))
            if cur.rowcount == 0:
                raise NotFound(f"no app password named {name!r}; see `kith app-password list`", field="name")

        await self.db.write(run)

    async def password_used(self, name: str, now: str) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute("UPDATE app_password SET last_used_at = %s WHERE name = %s", (now, name))

        await self.db.write(run)


async def _lookup(conn: Conn, circle: int | None, where: str, value: str) -> CardRef | None:
    live, params = _live_sql(circle)
    row = await fetch_one(
        conn,
        f"SELECT d.href, d.uid, d.seq, d.person_pk, p.id, d.circle_pk, c.name, {live} FROM {CARD_JOIN} "
        f"WHERE {where} ORDER BY {live} DESC, d.seq DESC LIMIT 1",
        [*params, value, *params],
    )
    if row is None:
        return None
    return card_ref(row)


async def _load(conn: Conn, circle: int | None, hrefs: Sequence[str]) -> list[CardRow]:
    live, params = _live_sql(circle)
    cols = ", ".join(f"p.{c}" for c in CARD_FIELDS)
    rows = await fetch_all(
        conn,
        f"SELECT d.href, d.uid, d.seq, d.person_pk, d.circle_pk, c.name, d.extra, d.edited_by, d.edited_at, "
        f"{cols} FROM {CARD_JOIN} WHERE d.href = ANY(%s) AND {live}",
        [list(hrefs), *params],
    )
    person_pks = [r[3] for r in rows if r[3] is not None]
    circle_pks = [r[4] for r in rows if r[4] is not None]
    idents: dict[int, list[CardIdentity]] = {}
    notes: dict[int, list[str]] = {}
    circles: dict[int, list[str]] = {}
    members: dict[int, list[str]] = {}
    if person_pks:
        idents = identities_by_person(
            await fetch_all(
                conn,
                "SELECT person_pk, uri, kind, display, label FROM identity WHERE person_pk = ANY(%s) "
                "AND state = 'active' ORDER BY pk",
                (person_pks,),
            )
        )
        notes = grouped(
            await fetch_all(
                conn,
                "SELECT person_pk, body FROM note WHERE person_pk = ANY(%s) ORDER BY created_at, pk",
                (person_pks,),
            )
        )
        circles = grouped(
            await fetch_all(
                conn,
                "SELECT m.person_pk, c.name FROM circle_member m JOIN circle c ON c.pk = m.circle_pk "
                f"WHERE m.person_pk = ANY(%s) ORDER BY {nocase('c.name')}, c.name",
                (person_pks,),
            )
        )
    if circle_pks:
        members = grouped(
            await fetch_all(
                conn,
                "SELECT m.circle_pk, d.uid FROM circle_member m JOIN person p ON p.pk = m.person_pk "
                "JOIN dav_card d ON d.person_pk = p.pk WHERE m.circle_pk = ANY(%s) "
                "AND p.status = 'active' ORDER BY d.uid",
                (circle_pks,),
            )
        )
    return card_rows(rows, idents, notes, circles, members)


async def _new_person(conn: Conn, href: str, uid: str, edit: PersonEdit) -> int:
    made = await fetch_one(
        conn,
        "INSERT INTO person (id, display_name, created_at, updated_at) VALUES (%s, %s, %s, %s) RETURNING pk",
        (edit.ids.person, edit.fields.get("display_name") or "", edit.now, edit.now),
    )
    pk = int(made[0]) if made else 0
    # The trigger named the card after the person; the client chose its own name and UID.
    await conn.execute("UPDATE dav_card SET href = %s, uid = %s WHERE person_pk = %s", (href, uid, pk))
    return pk


async def _apply_person(conn: Conn, pk: int, edit: PersonEdit) -> None:
    cols = [c for c in CARD_FIELDS if c in edit.fields]
    await conn.execute(
        f"UPDATE person SET {''.join(f'{c} = %s, ' for c in cols)}updated_at = %s WHERE pk = %s",
        (*[edit.fields[c] for c in cols], edit.now, pk),
    )
    extra = dict(edit.extra)
    kept_lines = list(extra.get("lines") or [])
    # Identities: attach what the card lists; one that belongs to another person stays on the card only (the
    # owner merges the two in Kith, and the phone then shows one card).
    wanted: set[str] = set()
    for ident, raw in edit.identities:
        owner = await fetch_one(conn, "SELECT person_pk FROM identity WHERE uri = %s", (ident.uri,))
        if owner is not None and owner[0] is not None and owner[0] != pk:
            kept_lines.extend(raw)
            continue
        wanted.add(ident.uri)
        await attach_identity(conn, pk, ident, edit.now)
    current = await fetch_all(
        conn, "SELECT pk, uri, kind, verification FROM identity WHERE person_pk = %s", (pk,)
    )
    gone = identities_gone(current, wanted, edit.removable_kinds)
    if gone:
        await conn.execute("DELETE FROM identity WHERE pk = ANY(%s)", (gone,))
    # Notes: the card has one NOTE, Kith many; notes it still quotes stay, the rest of its text is a new note.
    doomed_notes, rest = notes_kept(
        await fetch_all(conn, "SELECT pk, body FROM note WHERE person_pk = %s", (pk,)), edit.note
    )
    for note_pk in doomed_notes:
        await conn.execute("DELETE FROM note WHERE pk = %s", (note_pk,))
    if rest:
        await conn.execute(
            "INSERT INTO note (id, person_pk, body, created_at, updated_at) VALUES (%s, %s, %s, %s, %s)",
            (edit.ids.note, pk, rest, edit.now, edit.now),
        )
    if edit.circles is not None:
        await _set_circles(conn, pk, edit.circles, edit.ids.circles, edit.now)
    extra["lines"] = kept_lines
    await conn.execute(
        "UPDATE dav_card SET extra = %s, edited_by = %s, edited_at = %s WHERE person_pk = %s",
        (extra_json(extra), edit.edited_by, edit.now, pk),
    )
    await recompute_due(conn, [pk])
    await refresh_fts(conn, [pk])


async def _set_circles(conn: Conn, pk: int, names: Sequence[str], ids: Sequence[str], now: str) -> None:
    leave, join = circle_changes(
        await fetch_all(
            conn,
            "SELECT c.pk, c.name FROM circle_member m JOIN circle c ON c.pk = m.circle_pk WHERE m.person_pk = %s",
            (pk,),
        ),
        names,
        ids,
    )
    for circle_pk in leave:
        await conn.execute(
            "DELETE FROM circle_member WHERE circle_pk = %s AND person_pk = %s", (circle_pk, pk)
        )
    for name, circle_id in join:
        await conn.execute(
            "INSERT INTO circle (id, name, created_at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (circle_id, name, now),
        )
        await conn.execute(
            f"INSERT INTO circle_member (circle_pk, person_pk) SELECT pk, %s FROM circle WHERE {_CIRCLE_NAMED} "
            "ON CONFLICT DO NOTHING",
            (pk, name),
        )


async def _person_pks_of(conn: Conn, uids: Sequence[str]) -> set[int]:
    """The active people whose cards have these UIDs (a member a client names that Kith does not know, or that
    is archived, is left out)."""
    rows = await fetch_all(
        conn,
        "SELECT d.person_pk FROM dav_card d JOIN person p ON p.pk = d.person_pk "
        "WHERE d.uid = ANY(%s) AND p.status = 'active'",
        (list(dict.fromkeys(uids)),),
    )
    return {int(r[0]) for r in rows}
