"""``threadkeep users add|ls|revoke``: the server's users and their API keys.

Thin commands over :class:`threadkeep.accounts.Accounts`. ``add`` prints the new key
alone on the last line of stdout — the one time it is shown — so a script takes it
with ``tail -1``; what it means goes to stderr. ``revoke`` asks first, like ``rm``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.text import Text

from threadkeep.accounts import Accounts, ApiKey
from threadkeep.cli._context import DbOption, opened_store
from threadkeep.cli.output import (
    JsonOption,
    YesOption,
    ago,
    confirm_or_stop,
    counted,
    emit_json,
    new_table,
    note,
    say,
    show_table,
)
from threadkeep.cli.terminal import one_line

__all__ = ["app"]

app = typer.Typer(
    help="Users of `threadkeep serve` and their API keys.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@app.command()
def add(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            help="The user's name: the owner their conversations are kept under.",
            metavar="NAME",
            show_default=False,
        ),
    ],
    db: DbOption = None,
) -> None:
    """Make an API key for user NAME (made too if new) and print it, once.

    The key is the last line of the output, alone; it is not stored anywhere (only a
    salted hash of it is), so keep it now. Clients send it as
    `Authorization: Bearer <key>`. Once any key exists, the server asks every request
    for one, also on loopback: to keep the conversations you made as the local user,
    add a key for `local`.

    Examples:

        threadkeep users add alice
        KEY=$(threadkeep users add ci-bot | tail -1)
        threadkeep users add local
    """
    with opened_store(ctx, db) as store:
        info, key = Accounts(store.database, store.settings).add_user(name)
    note(
        f"new API key {info.prefix}… for {one_line(info.user)}; it is shown only now, "
        "so keep it (send it as `Authorization: Bearer <key>`):"
    )
    say(key)


@app.command("ls")
def list_command(ctx: typer.Context, json_output: JsonOption = False, db: DbOption = None) -> None:
    """List users and their API keys: key prefix, when made, last used, revoked.

    A key's last use is updated at most once a minute. `--json`: one object with
    `items`, one per key.

    Example:

        threadkeep users ls
    """
    with opened_store(ctx, db, create=False) as store:
        keys = Accounts(store.database, store.settings).list_keys()
    if json_output:
        emit_json({"items": [key.to_dict() for key in keys]})
        return
    if not keys:
        note(
            "no users: on a loopback address the server serves the local user without a "
            "key; `threadkeep users add NAME` makes one"
        )
        return
    now = dt.datetime.now(dt.UTC)
    table = new_table()
    table.add_column("User", overflow="fold")
    table.add_column("Key", no_wrap=True, style="cyan")
    table.add_column("Created", no_wrap=True)
    table.add_column("Last used", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    for key in keys:
        status = (
            Text("active", style="green")
            if key.revoked_at is None
            else Text(f"revoked {ago(key.revoked_at, now)}", style="dim")
        )
        table.add_row(
            one_line(key.user),
            f"{key.prefix}…",
            ago(key.created_at, now),
            "never" if key.last_used_at is None else ago(key.last_used_at, now),
            status,
        )
    show_table(table)


def _describe(key: ApiKey) -> Text:
    return Text.assemble("  ", (f"{key.prefix}…", "cyan"), "  ", one_line(key.user))


@app.command()
def revoke(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            help="A user name (all their keys) or a key id / prefix (`tk_<id>_`).",
            metavar="NAME|KEYID",
            show_default=False,
        ),
    ],
    yes: YesOption = False,
    db: DbOption = None,
) -> None:
    """Revoke a user's API keys, or one key: requests with them get 401 at once.

    Asks first, unless `--yes`; without a terminal to ask on and without `--yes` it
    refuses (exit 2). The user and their conversations stay; `users add NAME` gives
    them a new key.

    Examples:

        threadkeep users revoke alice
        threadkeep users revoke tk_3f9c2a7d5e1b4c08_ --yes
    """
    with opened_store(ctx, db, create=False) as store:
        accounts = Accounts(store.database, store.settings)
        doomed = accounts.resolve(target)
        if not doomed:
            say(f"nothing to revoke: {one_line(target)} has no active API key")
            return
        confirm_or_stop(
            yes,
            refusal="revoke cuts off clients at once and there is no terminal to ask on: "
            "pass --yes",
            shown=(_describe(key) for key in doomed),
            question=f"Revoke {counted(len(doomed), 'API key')}?",
            declined="nothing revoked",
        )
        revoked = accounts.revoke(target)
    say(f"revoked {counted(len(revoked), 'API key')}")
