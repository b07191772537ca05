"""``kith`` subcommands for federation. They talk to the running node's owner API over HTTP: the base URL
comes from the data folder's ``kith.toml`` (server.host/port), the token from ``<data>/tokens/<account>``.

    kith follow ADDRESS | unfollow ADDRESS | connect ADDRESS --as TYPE [--how-we-met TEXT] [--since DATE]
    kith requests | accept ID | reject ID | block ADDRESS | unblock ADDRESS
    kith followers | following | peers          (every listing takes --json)
    kith alias [ADDRESS...] | move ADDRESS
    kith actor delete --yes                    (delete the fediverse actor for good)
    kith message PERSON TEXT [--reply-to NOTE] (a fediverse direct message to a person of the graph)
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from node.config import account_from_env, default_data_dir, load_config
from node.serve_url import RUNTIME_URL_FILE

__all__ = [
    "ACTOR_DELETE_WARNING",
    "RUNTIME_URL_FILE",
    "account_of",
    "call",
    "main",
    "register",
    "running_node_url",
]


def _data_dir(args: argparse.Namespace) -> Path:
    value = getattr(args, "data", None) or getattr(args, "data_dir", None)
    return Path(value).expanduser() if value else default_data_dir()


def running_node_url(data: Path) -> str:
    """Where the node in ``data`` listens: what `kith serve` wrote when it started, else the configuration."""
    try:
        return (data / RUNTIME_URL_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        config = load_config(data)
        host = config.server.host if config.server.host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
        return f"http://{host}:{config.server.port}"


def account_of(args: argparse.Namespace) -> str | None:
    """The account named by --account (or KITH_ACCOUNT), if any; else the server's default is used."""
    name: str | None = getattr(args, "account_name", None) or account_from_env()
    return name


def _token(data: Path, account: str | None) -> str:
    from node.errors import NodeError
    from node.server import choose_account, read_token
    from node.store import read_accounts

    try:
        config = load_config(data)
        row = choose_account(read_accounts(config), account, config.server.default_account)
        return read_token(data, row.name)
    except NodeError as exc:
        raise SystemExit(f"kith: {exc.message}") from None
    except FileNotFoundError as exc:
        raise SystemExit(f"kith: {exc}") from None


def call(
    data: Path, method: str, path: str, body: dict[str, Any] | None = None, *, account: str | None = None
) -> Any:
    """One owner-API request as ``account`` (default: the server's default account); exits with the API's
    message on an error answer."""
    url = running_node_url(data) + path
    token = _token(data, account)
    payload = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=payload, method=method)  # noqa: S310 (our own node, http only)
    request.add_header("Authorization", f"Bearer {token}")
    if payload is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            answer = json.loads(exc.read())
            message = (answer.get("error") or answer).get("message") or exc.reason
        except ValueError:
            message = exc.reason
        # one line, like every other command's error (node/cli.py's main): what the node said, and its status
        raise SystemExit(f"kith: {message} (the node answered {exc.code})") from None
    except urllib.error.URLError as exc:
        raise SystemExit(
            f"kith: cannot reach the node at {url} ({exc.reason}); is `kith serve` running?"
        ) from None


def _print(args: argparse.Namespace, value: Any, human: Any = None) -> None:
    """``value`` as JSON with --json; else ``human(value)``'s line, or the listing's rows as text."""
    if getattr(args, "json", False):
        print(json.dumps(value, indent=2, ensure_ascii=False))
        return
    if human is not None:
        print(human(value))
        return
    rows = value if isinstance(value, list) else [value]
    if not rows:
        print("(none)")
    for row in rows:
        if not isinstance(row, dict):
            print(row)
        elif "host" in row and "status" in row:
            print(
                f"{row['host']:<40} {row['status']:<8} queued={row['queued']} delivered={row['delivered']} "
                f"failed={row['failed']} dead={row['dead']}"
            )
        elif "kind" in row and "direction" in row:
            who = row.get("acct") or row["actor"]
            extra = f" as {row['type']}" if row.get("type") else ""
            print(
                f"{row['state']:<9} {row['direction']:<8} {row['kind']}{extra} {who}\n"
                f"          id: {row['id']}"
            )
        else:
            print("  ".join(f"{k}: {v}" for k, v in row.items()))


def _blocked(verb: str) -> Any:
    def line(row: dict[str, Any]) -> str:
        what = "the domain" if row.get("kind") == "domain" else "the account"
        return f"{verb} {what} {row.get('acct') or row['value']}"

    return line


def _aliases_line(answer: dict[str, Any]) -> str:
    names = answer.get("also_known_as") or []
    return "also known as: " + ", ".join(names) if names else "no aliases: this account names no old accounts"


def _moved_line(answer: dict[str, Any]) -> str:
    told = answer["notified"]
    return f"moved to {answer['moved_to']}; told {told} follower inbox{'es' if told != 1 else ''}"


def _run(method: str, path: str, body_of: Any = None, human: Any = None) -> Any:
    def handler(args: argparse.Namespace) -> int:
        body = body_of(args) if body_of else None
        _print(args, call(_data_dir(args), method, path, body, account=account_of(args)), human)
        return 0

    return handler


def register(subparsers: Any) -> None:
    """Add the federation subcommands to the ``kith`` parser's subparsers."""
    p = "/api/federation"

    def add(name: str, help_text: str, handler: Any, *, address: bool = False, ident: bool = False) -> Any:
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if address:
            sub.add_argument("address", metavar="ADDRESS", help="acct:user@host, user@host or an actor URL")
        if ident:
            sub.add_argument("id", metavar="ID", help="the request's id, as `kith requests` shows it")
        sub.add_argument("--json", action="store_true", help="print JSON")
        sub.set_defaults(func=handler)
        return sub

    addr = lambda a: {"address": a.address}  # noqa: E731
    add("follow", "Follow a fediverse account or Kith node.", _run("POST", f"{p}/follow", addr), address=True)
    add("unfollow", "Stop following an account.", _run("POST", f"{p}/unfollow", addr), address=True)
    connect = add(
        "connect",
        "Offer a relationship to another Kith owner; it is confirmed when they accept (signed by both).",
        _run(
            "POST",
            f"{p}/connect",
            lambda a: {"address": a.address, "type": a.as_type, "how_we_met": a.how_we_met, "since": a.since},
        ),
        address=True,
    )
    connect.add_argument(
        "--as", dest="as_type", required=True, metavar="TYPE", help="friend, colleague, met..."
    )
    connect.add_argument("--how-we-met", default=None, help="a few words on how you met")
    connect.add_argument("--since", default=None, help="YYYY-MM-DD")
    add(
        "requests",
        "Pending follow requests and relationship offers, both directions.",
        _run("GET", f"{p}/requests"),
    )
    add(
        "accept",
        "Accept a pending request.",
        _run("POST", f"{p}/requests/accept", lambda a: {"id": a.id}),
        ident=True,
    )
    add(
        "reject",
        "Reject a pending request.",
        _run("POST", f"{p}/requests/reject", lambda a: {"id": a.id}),
        ident=True,
    )
    add(
        "block",
        "Block an account (or a whole domain).",
        _run("POST", f"{p}/block", addr, _blocked("blocked")),
        address=True,
    )
    add("unblock", "Lift a block.", _run("POST", f"{p}/unblock", addr, _blocked("unblocked")), address=True)
    add("followers", "Who follows you.", _run("GET", f"{p}/followers"))
    add("following", "Whom you follow.", _run("GET", f"{p}/following"))
    add("peers", "Delivery status per peer host: queued, failing, dead.", _run("GET", f"{p}/peers"))
    alias = add(
        "alias",
        "Name the accounts you are moving from (alsoKnownAs); needed before they can move here.",
        _run("POST", f"{p}/aliases", lambda a: {"addresses": a.addresses}, _aliases_line),
    )
    alias.add_argument("addresses", nargs="*", metavar="ADDRESS", help="old accounts (none: clear)")
    add(
        "move",
        "Tell your followers you moved to ADDRESS (which must name this account as an alias first).",
        _run("POST", f"{p}/move", addr, _moved_line),
        address=True,
    )
    _register_actor(subparsers)
    _register_message(subparsers)


def _message(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.text == "-" else args.text
    body: dict[str, Any] = {"text": text}
    if args.reply_to:
        body["in_reply_to"] = args.reply_to
    path = f"/api/people/{quote(args.person, safe='')}/message"
    answer = call(_data_dir(args), "POST", path, body, account=account_of(args))
    _print(
        args,
        answer,
        lambda a: f"sent to {a['to']} ({a['object_id']}); logged, and the stay-in-touch clock starts again",
    )
    return 0


def _register_message(subparsers: Any) -> None:
    help_text = (
        "Send a fediverse direct message to a person: a note to their account alone (a private mention on "
        "Mastodon), logged as an interaction. Their answer joins the same conversation."
    )
    p = subparsers.add_parser("message", help=help_text, description=help_text)
    p.add_argument("person", metavar="PERSON", help="the person's id, as `kith people` shows it")
    p.add_argument("text", metavar="TEXT", help="the message ('-': read it from standard input)")
    p.add_argument("--reply-to", metavar="NOTE", help="the id of the note it answers (threads it)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_message)


ACTOR_DELETE_WARNING = """\
`kith actor delete` deletes your fediverse actor for good:
  - every follower, every account you follow and every Kith peer is sent Delete of your actor;
  - from then on your actor, its inbox and everything under it answer 410 Gone, and this node sends
    nothing more as it (no follows, relationship offers, card updates or moves);
  - it cannot be undone: other servers forget the actor, and its address cannot be used again.
Your contact graph stays on this node (kith people, kith export). To move to another account instead,
use `kith move ADDRESS`.
Run `kith actor delete --yes` to go ahead."""


def _actor_delete(args: argparse.Namespace) -> int:
    if not args.yes:
        print(ACTOR_DELETE_WARNING, file=sys.stderr)
        return 2
    result = call(
        _data_dir(args), "POST", "/api/federation/actor/delete", {"confirm": True}, account=account_of(args)
    )
    if args.json:
        print(json.dumps(result, indent=2))
    elif result.get("already_deleted"):
        print(f"{result['actor']} was already deleted on {result['deleted_at']}")
    else:
        print(f"deleted {result['actor']}; Delete is on its way to {result['notified']} inboxes")
    return 0


def _register_actor(subparsers: Any) -> None:
    actor = subparsers.add_parser(
        "actor", help="Your fediverse actor: delete it for good.", description="Your fediverse actor."
    )
    sub = actor.add_subparsers(dest="actor_command", required=True, metavar="COMMAND")
    delete = sub.add_parser(
        "delete",
        help="Delete your fediverse actor for good (tells every follower and peer).",
        description=ACTOR_DELETE_WARNING.split("\nRun ")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    delete.add_argument("--yes", action="store_true", help="really delete it (nothing happens without)")
    delete.add_argument("--json", action="store_true", help="print JSON")
    delete.set_defaults(func=_actor_delete)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry for these subcommands (the node's ``kith`` command registers them itself)."""
    parser = argparse.ArgumentParser(prog="kith")
    parser.add_argument("--data", default=None, help="the node's data folder")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
