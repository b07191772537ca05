"""`kith org`: organisations (specs/ORGANISATIONS.md). Like the federation commands, they talk to the running
node's owner API (/api/org, node/api_org.py); every one takes ``--json``.

A member (a person's account):

    kith org join ADDRESS                      ask to join; the organisation's admins accept it
    kith org list                              the organisations you belong to, your role and level
    kith org share [--level L | --clear] [--circle NAME | --person ID] [--preview] [--org ADDRESS]
    kith org share --note NOTE_ID [--unshare]  choose a note to share at level notes (or take it back)
    kith org who-knows QUERY | timeline QUERY  a person (name or address) or a company
    kith org intro PERSON_OR_QUERY [--note TEXT]
    kith org intros | answer ID accept|decline [--note TEXT]
    kith org policy show PERSON_ID             the policies that apply to someone in your graph
    kith org leave ADDRESS                     the organisation deletes all you shared, and says so

An organisation's account (or an admin's own account, with --org ADDRESS):

    kith org members | requests | accept ID [--role R] | reject ID | role MEMBER ROLE | remove MEMBER
    kith org settings [--cap LEVEL] [--domain DOMAIN ...] [--cool-down DAYS]
    kith org intros
    kith org policy set PERSON_OR_COMPANY --owner MEMBER | --do-not-contact REASON | --cool-down DAYS
    kith org policy clear PERSON_OR_COMPANY | policy list

(The organisation's own account also answers requests to join with the usual `kith requests` and
`kith accept ID`.)
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from node.cli_federation import _data_dir, account_of, call

__all__ = ["register"]

_P = "/api/org"
_LEVELS = ("none", "knows", "last-contact", "interactions", "notes")


def _call(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return call(_data_dir(args), method, path, body, account=account_of(args))


def _query(**values: Any) -> str:
    found = {k: v for k, v in values.items() if v not in (None, "")}
    return f"?{urlencode(found)}" if found else ""


def _show(args: argparse.Namespace, value: Any, human: Callable[[Any], None]) -> int:
    if args.json:
        print(json.dumps(value, indent=2, ensure_ascii=False))
    else:
        human(value)
    return 0


def _who(row: dict[str, Any]) -> str:
    return row.get("acct") or row.get("actor") or row.get("member") or "?"


# -- a member's commands ---------------------------------------------------------------------------------------
def _join(args: argparse.Namespace) -> int:
    row = _call(args, "POST", f"{_P}/join", {"address": args.address})

    def human(r: dict[str, Any]) -> None:
        if r["state"] == "accepted":
            print(f"you are already a member of {r.get('acct') or r['org']}")
        else:
            print(
                f"asked to join {r.get('acct') or r['org']}; its admins accept it with `kith requests` / `kith accept`"
            )
            print("nothing is shared until you choose: kith org share --level knows --preview")

    return _show(args, row, human)


def _leave(args: argparse.Namespace) -> int:
    row = _call(args, "POST", f"{_P}/leave", {"address": args.address})
    return _show(
        args, row, lambda r: print(f"left {r['org']}; it deletes everything you shared and will say so")
    )


def _list(args: argparse.Namespace) -> int:
    data = _call(args, "GET", _P)

    def human(d: dict[str, Any]) -> None:
        if d["account"] == "organization":
            s = d["settings"]
            print(f"this account is the organisation {d['org']}")
            print(
                f"  cap {s['cap']}; domains {', '.join(s['domains']) or '(none)'}; cool-down {s['cool_down_days'] or '-'} days"
            )
            return
        if not d["memberships"]:
            print("you belong to no organisation; join one with `kith org join ADDRESS`")
        for m in d["memberships"]:
            role = f", {m['role']}" if m.get("role") else ""
            deleted = m.get("deleted")
            gone = f"; it deleted {deleted['count']} records you shared on {deleted['at']}" if deleted else ""
            print(
                f"{m.get('acct') or m['org']}  {m['state']}{role}  sharing at {m['level']} (cap {m.get('cap') or '-'}){gone}"
            )

    return _show(args, data, human)


def _print_sharing(s: dict[str, Any]) -> None:
    print(f"sharing with {s['org']} at {s['level']} (the organisation takes up to {s.get('cap') or '-'})")
    for rule in s["rules"]:
        print(f"  {rule['scope']} {rule['target']}: {'never' if rule['level'] == 'none' else rule['level']}")
    if s.get("notes"):
        print(f"  notes chosen: {len(s['notes'])}")
    visible = s["visible_to"]
    print(f"who can see it: the organisation and its {len(visible['members'])} other members")
    for m in visible["members"]:
        print(f"  {m['actor']} ({m['role']})")
    for seen in visible["sees"]:
        print(f"  {seen['people']} people at {seen['level']}: {seen['what']}")
    if not visible["sees"]:
        print("  nothing: you share no one")
    sent = s.get("sent")
    if sent:
        print(f"sent now: {sent['shared']} shared, {sent['withdrawn']} withdrawn")


def _share(args: argparse.Namespace) -> int:
    if args.circle and args.person:
        raise SystemExit("kith: give --circle or --person, not both")
    if args.note:
        result = _call(
            args,
            "PUT",
            f"{_P}/notes/{quote(args.note, safe='')}",
            {"shared": not args.unshare, "org": args.org},
        )
        return _show(
            args,
            result,
            lambda r: print(
                f"note {r['note']} {'is' if r['shared'] else 'is no longer'} shared (at level notes)"
            ),
        )
    if args.preview:
        path = f"{_P}/preview" + _query(
            org=args.org, level=args.level, circle=args.circle, person=args.person, limit=args.limit
        )
        data = _call(args, "GET", path)

        def human(p: dict[str, Any]) -> None:
            counts = ", ".join(f"{n} at {lv}" for lv, n in p["counts"].items()) or "no one"
            print(f"{p['org']} would see {counts}:")
            for item in p["items"]:
                print(json.dumps(item["record"], ensure_ascii=False))
            if p.get("next_offset") is not None:
                print(f"… {p['total'] - len(p['items'])} more (--limit)")

        return _show(args, data, human)
    if args.level is None and not args.clear:
        return _show(args, _call(args, "GET", f"{_P}/sharing" + _query(org=args.org)), _print_sharing)
    if args.clear and not (args.circle or args.person):
        raise SystemExit("kith: --clear takes back a --circle or --person override")
    body = {
        "level": None if args.clear else args.level,
        "circle": args.circle,
        "person": args.person,
        "org": args.org,
    }
    return _show(args, _call(args, "PUT", f"{_P}/sharing", body), _print_sharing)


def _print_who_knows(items: list[dict[str, Any]]) -> None:
    if not items:
        print("nobody here shares anyone matching that")
    for item in items:
        p = item["person"]
        org = f" · {p['organization']}" if p.get("organization") else ""
        print(f"{p['display_name']}{org}  {', '.join(p['identities'][:3])}")
        for k in item["known_by"]:
            last = f", last contact {k['last_contact']}" if k.get("last_contact") else ""
            print(f"  known by {k['member']}: {k['bucket']} ({k['strength']:.2f}){last}")


def _who_knows(args: argparse.Namespace) -> int:
    data = _call(args, "GET", f"{_P}/who-knows" + _query(q=args.query, org=args.org))
    return _show(args, data, _print_who_knows)


def _timeline(args: argparse.Namespace) -> int:
    data = _call(args, "GET", f"{_P}/timeline" + _query(q=args.query, org=args.org))

    def human(items: list[dict[str, Any]]) -> None:
        if not items:
            print("no shared interactions with anyone matching that")
        for e in items:
            who = e["person"]["display_name"]
            by = f" ({e['initiated_by']} started)" if e.get("initiated_by") else ""
            print(f"{e['occurred_at'][:16]}  {e.get('channel') or '-':<8} {who} with {e['member']}{by}")

    return _show(args, data, human)


def _intro(args: argparse.Namespace) -> int:
    data = _call(args, "POST", f"{_P}/intros", {"query": args.query, "note": args.note, "org": args.org})
    return _show(
        args,
        data,
        lambda d: print(
            f"asked {d['asked']} member{'s' if d['asked'] != 1 else ''} to introduce you to {d['name']}; "
            "you will hear who accepts (`kith org intros`)"
        ),
    )


def _intros(args: argparse.Namespace) -> int:
    data = _call(args, "GET", f"{_P}/intros" + _query(org=args.org))

    def human(items: list[dict[str, Any]]) -> None:
        if not items:
            print("no introductions")
        for i in items:
            role = i.get("role")
            if role == "introducer":
                print(
                    f"{i['state']:<9} asked of you: introduce {i.get('requester')} to {i['name']}   id: {i['id']}"
                )
            elif role == "requester":
                by = f" by {i['introducer']}" if i.get("introducer") else ""
                print(f"{i['state']:<9} you asked for {i['name']}{by}")
            else:
                by = f" by {i['introducer']}" if i.get("introducer") else ""
                print(
                    f"{i['state']:<9} {i.get('requester')} asked for {i['name']} (asked {i.get('asked', 0)}){by}"
                )

    return _show(args, data, human)


def _answer(args: argparse.Namespace) -> int:
    body = {"id": args.id, "accept": args.verdict == "accept", "note": args.note}
    data = _call(args, "POST", f"{_P}/intros/answer", body)
    return _show(
        args,
        data,
        lambda d: print(
            f"{d['state']}: the introduction to {d['name']}"
            + (
                "; now introduce them yourself: Kith sends nothing to them"
                if d["state"] == "accepted"
                else ""
            )
        ),
    )


# -- the organisation's commands -------------------------------------------------------------------------------
def _members(args: argparse.Namespace) -> int:
    data = _call(args, "GET", f"{_P}/members" + _query(org=args.org))

    def human(items: list[dict[str, Any]]) -> None:
        if not items:
            print("no members yet")
        for m in items:
            print(f"{_who(m):<40} {m['role']:<7} shares at {m['level']}")

    return _show(args, data, human)


def _requests(args: argparse.Namespace) -> int:
    data = _call(args, "GET", f"{_P}/requests" + _query(org=args.org))

    def human(items: list[dict[str, Any]]) -> None:
        if not items:
            print("no requests to join")
        for r in items:
            print(f"{_who(r)} asks to join\n    id: {r['id']}")

    return _show(args, data, human)


def _accept(args: argparse.Namespace) -> int:
    data = _call(args, "POST", f"{_P}/requests/accept", {"id": args.id, "role": args.role, "org": args.org})
    return _show(args, data, lambda d: print(f"{d['actor']} is now a member ({d['role']})"))


def _reject(args: argparse.Namespace) -> int:
    data = _call(args, "POST", f"{_P}/requests/reject", {"id": args.id, "org": args.org})
    return _show(args, data, lambda d: print(f"declined {d['actor']}"))


def _role(args: argparse.Namespace) -> int:
    data = _call(
        args, "POST", f"{_P}/members/role", {"member": args.member, "role": args.role, "org": args.org}
    )
    return _show(args, data, lambda d: print(f"{d['actor']} is now {d['role']}"))


def _remove(args: argparse.Namespace) -> int:
    data = _call(args, "POST", f"{_P}/members/remove", {"member": args.member, "org": args.org})
    return _show(
        args, data, lambda d: print(f"removed {d['member']}; deleted the {d['deleted']} records they shared")
    )


def _settings(args: argparse.Namespace) -> int:
    if args.cap is None and args.domain is None and args.cool_down is None:
        data = _call(args, "GET", f"{_P}/settings" + _query(org=args.org))
    else:
        body = {"cap": args.cap, "domains": args.domain, "cool_down_days": args.cool_down, "org": args.org}
        data = _call(args, "PUT", f"{_P}/settings", body)

    def human(s: dict[str, Any]) -> None:
        print(
            f"cap {s['cap']}; domains {', '.join(s['domains']) or '(none)'}; cool-down {s['cool_down_days'] or '-'} days"
        )
        if s.get("removed"):
            print(f"deleted {s['removed']} records the organisation may no longer hold")

    return _show(args, data, human)


def _print_policies(items: list[dict[str, Any]]) -> None:
    if not items:
        print("no policy applies")
    for p in items:
        _print_policy(p)


def _print_policy(p: dict[str, Any]) -> None:
    what = []
    if p.get("owner"):
        what.append(f"owner {p['owner']}")
    if p.get("do_not_contact"):
        what.append(f"do not contact: {p['do_not_contact']}")
    if p.get("cool_down_until"):
        what.append(f"cooling down until {p['cool_down_until']}")
    elif p.get("cool_down_days"):
        what.append(f"cool-down {p['cool_down_days']} days")
    state = " (cleared)" if p.get("cleared") else ""
    print(f"{p['kind']} {p['name']}{state}: {'; '.join(what) or 'no rule'}")


def _policy(args: argparse.Namespace) -> int:
    if args.policy_action == "list":
        return _show(
            args,
            _call(args, "GET", f"{_P}/policies" + _query(org=args.org)),
            _print_policies,
        )
    if args.policy_action == "show":
        data = _call(args, "GET", f"{_P}/people/{quote(args.target, safe='')}/policies")
        return _show(
            args,
            data,
            _print_policies,
        )
    body: dict[str, Any] = {"target": args.target, "org": args.org}
    if args.policy_action == "clear":
        body["clear"] = True
    else:
        if args.owner is None and args.do_not_contact is None and args.cool_down is None:
            raise SystemExit(
                "kith: say what the policy is: --owner MEMBER, --do-not-contact REASON or --cool-down DAYS"
            )
        body.update(owner=args.owner, do_not_contact=args.do_not_contact, cool_down_days=args.cool_down)
    return _show(args, _call(args, "POST", f"{_P}/policies", body), _print_policy)


def register(subparsers: Any) -> None:
    """Add ``kith org`` to the ``kith`` parser's subparsers."""
    group = subparsers.add_parser(
        "org",
        help="organisations: join, share with consent, who knows whom, introductions, contact policies",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = group.add_subparsers(dest="org_command", required=True, metavar="COMMAND")

    def add(
        name: str, help_text: str, fn: Callable[[argparse.Namespace], int], *, org: bool = True
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
        if org:
            p.add_argument(
                "--org",
                metavar="ADDRESS",
                help="which organisation (default: the only one; an admin names theirs)",
            )
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(func=fn)
        return p

    p = add("join", "Ask to join an organisation; its admins accept it.", _join, org=False)
    p.add_argument("address", metavar="ADDRESS", help="acct:org@host, org@host or its actor URL")
    p = add(
        "leave", "Leave an organisation: it deletes everything you shared, and says so.", _leave, org=False
    )
    p.add_argument("address", metavar="ADDRESS")
    add(
        "list",
        "The organisations you belong to (or, on an organisation's account, its settings).",
        _list,
        org=False,
    )
    p = add("share", "Show or set what you share (nothing until you choose), with a preview.", _share)
    p.add_argument("--level", choices=_LEVELS, help="none | knows | last-contact | interactions | notes")
    p.add_argument("--clear", action="store_true", help="take back the --circle or --person override")
    p.add_argument("--circle", metavar="NAME", help="the level for one circle")
    p.add_argument("--person", metavar="ID", help="the level for one person (--level none: never shared)")
    p.add_argument(
        "--preview", action="store_true", help="show exactly what the organisation would see; change nothing"
    )
    p.add_argument("--limit", type=int, default=20, help="records the preview shows (default 20)")
    p.add_argument("--note", metavar="NOTE_ID", help="choose a note to share at level notes")
    p.add_argument("--unshare", action="store_true", help="with --note: take the note back")
    p = add("who-knows", "Who here knows someone: a person (a name or an address) or a company.", _who_knows)
    p.add_argument("query", metavar="QUERY")
    p = add("timeline", "Every shared interaction with a person or a company, newest first.", _timeline)
    p.add_argument("query", metavar="QUERY")
    p = add("intro", "Ask for an introduction; the best-connected members are asked.", _intro)
    p.add_argument("query", metavar="PERSON_OR_QUERY")
    p.add_argument("--note", help="what you would like to talk to them about")
    add("intros", "Introductions: asked for, asked of you (or, for an organisation, all).", _intros)
    p = add("answer", "Accept or decline an introduction you were asked for.", _answer, org=False)
    p.add_argument("id", metavar="ID", help="the introduction's id, as `kith org intros` shows it")
    p.add_argument("verdict", choices=("accept", "decline"))
    p.add_argument("--note", help="a word for the one who asked")
    add("members", "The directory: members, roles, the level each shares at.", _members)
    add("requests", "Requests to join, waiting (admins).", _requests)
    p = add("accept", "Accept a request to join (admins).", _accept)
    p.add_argument("id", metavar="ID")
    p.add_argument("--role", choices=("admin", "member", "viewer"), default="member")
    p = add("reject", "Decline a request to join (admins).", _reject)
    p.add_argument("id", metavar="ID")
    p = add("role", "Give a member a role (admins).", _role)
    p.add_argument("member", metavar="MEMBER", help="their acct: address or actor URL")
    p.add_argument("role", choices=("admin", "member", "viewer"))
    p = add("remove", "Remove a member: all they shared is deleted, and they are told (admins).", _remove)
    p.add_argument("member", metavar="MEMBER")
    p = add(
        "settings", "The cap, the colleagues' domains, the default cool-down (admins change them).", _settings
    )
    p.add_argument("--cap", choices=_LEVELS, help="the most the organisation takes (records above go)")
    p.add_argument(
        "--domain", action="append", metavar="DOMAIN", help="addresses on it are colleagues (repeat)"
    )
    p.add_argument("--cool-down", type=int, metavar="DAYS", help="default days after a member's contact")
    policy = sub.add_parser(
        "policy", help="contact policies: set | clear | list | show", description="Contact policies."
    )
    psub = policy.add_subparsers(dest="policy_action", required=True, metavar="ACTION")
    for name, help_text in (
        ("set", "Set a policy for a person (an address or a name) or a company (company:NAME)."),
        ("clear", "Remove a policy."),
        ("list", "Every policy."),
        ("show", "The policies that apply to one person of your graph (by id)."),
    ):
        p = psub.add_parser(name, help=help_text, description=help_text)
        if name != "list":
            p.add_argument("target", metavar="PERSON_ID" if name == "show" else "PERSON_OR_COMPANY")
        if name == "set":
            p.add_argument("--owner", metavar="MEMBER", help="whose relationship it is (admins)")
            p.add_argument("--do-not-contact", metavar="REASON", help="nobody reaches out, and why")
            p.add_argument("--cool-down", type=int, metavar="DAYS", help="days after a member's contact")
        if name != "show":
            p.add_argument("--org", metavar="ADDRESS", help="which organisation")
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(func=_policy)
