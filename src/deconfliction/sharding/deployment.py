"""A deployment's databases and which one a request is for.

One database is a deployment of one shard, `home`. Over several (`DECONFLICTION_SHARDS`, see
routing_table.py) each shard has its own service context — store, log, events — all signed with
the one service key; a request goes to the shard of the mechanism it names, or of the
notification, conflict, message or incident it names (each shard is asked whether it holds it),
and everything else — parties, tokens, webhooks, the caller — to the home shard.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from deconfliction.config import Settings
from deconfliction.errors import InvalidInput, StateConflict
from deconfliction.runtime import open_context, open_contexts
from deconfliction.services import directory
from deconfliction.services.context import Clock, Context, system_clock
from deconfliction.services.ports import Row, Transaction
from deconfliction.sharding import routing_table
from deconfliction.sharding.routing_table import RoutingTable

HOME = "home"
# Path parameters that name something a shard holds, and how a shard's transaction finds it.
SUBJECTS: dict[str, Callable[[Transaction, str], Row | None]] = {
    "notification_id": lambda tx, id_: tx.notification(id_),
    "conflict_id": lambda tx, id_: tx.conflict(id_),
    "message_id": lambda tx, id_: tx.message(id_),
    "incident_id": lambda tx, id_: tx.incident(id_),
}


class Deployment:
    """The service contexts of a deployment's shards, by name, the home shard first."""

    def __init__(self, contexts: dict[str, Context], placed: Mapping[str, str] | None = None):
        self.contexts = contexts
        self.placed = dict(placed or {})  # mechanism id → shard name, from the routing table
        self._found: dict[str, str] = {}  # mechanism id → the shard found holding it
        self._lock = threading.Lock()

    @property
    def home(self) -> Context:
        return next(iter(self.contexts.values()))

    @property
    def sharded(self) -> bool:
        return len(self.contexts) > 1

    def shard(self, name: str | None, field: str = "shard") -> Context:
        """The context of the shard named (the home shard for None)."""
        if name is None:
            return self.home
        if name not in self.contexts:
            raise InvalidInput.one(
                field, f"{name!r} is not a shard of this deployment ({', '.join(self.contexts)})"
            )
        return self.contexts[name]

    def of_mechanism(self, mechanism_id: str) -> Context:
        """The shard that holds the mechanism: the one the routing table names, or the one it
        was last found on, as long as that shard still holds it; else the one that has it now
        (the home shard if none has: its use case then says it is not found). So a mechanism
        moved while the processes run is served from its new shard from the next request on."""
        return self._of_mechanism(mechanism_id, holder=None)

    def _of_mechanism(self, mechanism_id: str, *, holder: str | None) -> Context:
        """of_mechanism, `holder` a shard already seen holding something of the mechanism (its
        rows move together, so it holds the mechanism too: not asked again)."""
        if not self.sharded:
            return self.home
        for name in (self.placed.get(mechanism_id), self._found.get(mechanism_id)):
            if name is not None and (name == holder or self._holds(name, mechanism_id)):
                return self.contexts[name]
        holders = self._holders(lambda tx: tx.mechanism(mechanism_id))
        if len(holders) > 1:
            raise StateConflict(
                f"mechanism {mechanism_id} is held by shards {', '.join(holders)}: name the "
                "one that serves it in the routing table's [mechanisms]"
            )
        if not holders:
            return self.home
        with self._lock:
            self._found[mechanism_id] = holders[0]
        return self.contexts[holders[0]]

    def _holds(self, name: str, mechanism_id: str) -> bool:
        with self.contexts[name].store.read() as tx:
            return tx.mechanism(mechanism_id) is not None

    def of_subject(self, parameter: str, subject_id: str) -> Context:
        """The shard holding the notification, conflict, message or incident: that of its
        mechanism (the home shard if no shard has it)."""
        find = SUBJECTS[parameter]
        for name, context in self.contexts.items():
            with context.store.read() as tx:
                row = find(tx, subject_id)
            if row is not None:
                return self._of_mechanism(row["mechanism_id"], holder=name)
        return self.home

    def for_path(self, parameters: Mapping[str, str]) -> Context:
        """The shard a request is for, from its path's parameters."""
        if not self.sharded:
            return self.home
        if "mechanism_id" in parameters:
            return self.of_mechanism(parameters["mechanism_id"])
        for parameter in SUBJECTS:
            if parameter in parameters:
                return self.of_subject(parameter, parameters[parameter])
        return self.home

    def copy_directory(self) -> None:
        """Copy the home shard's directory to the others (after a change to it)."""
        if self.sharded:
            shards = list(self.contexts.values())
            directory.copy(shards[0], shards[1:])

    def _holders(self, find: Callable[[Transaction], Row | None]) -> list[str]:
        held = []
        for name, context in self.contexts.items():
            with context.store.read() as tx:
                if find(tx) is not None:
                    held.append(name)
        return held

    def close(self) -> None:
        for context in self.contexts.values():
            context.store.close()


def single(ctx: Context) -> Deployment:
    """A deployment of one database."""
    return Deployment({HOME: ctx})


def open_deployment(
    table: RoutingTable, key_file: str | None, clock: Clock = system_clock
) -> tuple[Deployment, bool]:
    """Every shard of the routing table opened (migrated), each log signed with the one key —
    `key_file`, else the home database's default key file — and the directory copied from the
    home shard; (deployment, whether the key was created). The shards share one ServiceKeys,
    so a rotation reaches them all."""
    opened, created = open_contexts(list(table.shards.values()), key_file, clock)
    contexts = dict(zip(table.shards, opened, strict=True))
    if len(contexts) > 1:
        for name, context in contexts.items():
            context.shard = name
    deployment = Deployment(contexts, table.mechanisms)
    deployment.copy_directory()
    return deployment, created


def open_configured(settings: Settings, db: str | None = None) -> tuple[Deployment, bool]:
    """The deployment the settings name: the shards of their routing table, else one database
    (`db`, else theirs); (deployment, whether the key was created). Raises what open_contexts
    and routing_table.load raise."""
    if settings.shards:
        return open_deployment(routing_table.load(settings.shards), settings.signing_key_file)
    ctx, created = open_context(db or settings.db, settings.signing_key_file)
    return single(ctx), created
