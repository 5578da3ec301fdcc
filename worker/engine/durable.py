"""The durable_rules matcher, used in its safe subset (engine adapter; ARCHITECTURE.md, FACTS.md).

- One `durable.engine.Host` per matcher (never the global `durable.lang` API); rulesets set
  from dicts compiled by `worker.engine.compile`, actions bound by overriding `get_action`.
- Events only, stateless, single-event patterns: every event goes to the default sid, nothing
  is asserted as a fact, no timers. The Host's background dispatch/timer threads are never
  started (`_run` is a no-op): they would call into the C core outside our lock.
- One process-wide lock around every call into the C core (it is not thread-safe, and Hosts
  share it).
- **Batches.** `match` encodes each occurrence once and posts, per automation, the chunk's
  events for its trigger in one C `assert_events` call (what `Host.post_batch` calls), then
  drains the matches the same call queued: C `start_action_for_state`, then
  `complete_and_start_action` until none is left — the calls durable's `Ruleset.do_actions`
  makes. The drain is the recording callback: it reads the matched event's id and records
  it, nothing else. It skips durable's Python action machinery (Closure, Promise, a JSON
  round-trip of the unchanged state through `update_state`), which cost 60–170 µs per match
  and did no work for us. Lock, assert and drain happen together, so when the lock is
  released the ruleset holds no pending event or action.
- **Event ids.** The C core files a pending event under the 32-bit FNV-1 hash of its id and
  takes an equal hash for a duplicate: it drops the event silently ("observed"; FACTS.md: the
  false duplicates seen with threads). A chunk's events are pending together, so each gets an
  id from `_IDS`, strings chosen so their hashes differ from each other and from the state
  fact's id `sid-0` — no false duplicate is possible within a chunk. An id recorded twice, or
  one this chunk did not post, raises `EngineError`.
- An unmatched event (the C core's "not handled") is a normal "no match".
- `close()` deletes this Host's rulesets from the C core (each leaks ~65 KB otherwise); a
  matcher closed by a reload raises `MatcherClosed`, and the live matcher retries on the new one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from decimal import Decimal

import durable_rules_engine
from durable.engine import Host

from worker.core.occurrences import Occurrence
from worker.engine.compile import (
    EngineError,
    Vocabulary,
    event_body,
    ruleset_name,
    rulesets,
)
from worker.engine.interface import Match, MatcherClosed, by_trigger

#: `assert_event(s)` result codes (durable.engine.Ruleset._handle_result).
_HANDLED, _NOT_HANDLED = 0, 1
#: Every call into the durable_rules C core, from any Host, happens under this lock.
ENGINE_LOCK = threading.Lock()
#: Events per `assert_events` call. The state's pools grow to the pending matches of one
#: chunk and are reused (never shrink), so this bounds the engine's memory.
CHUNK = 2048
_FNV_BASIS, _FNV_PRIME, _MASK = 0x811C9DC5, 16777619, 0xFFFFFFFF


def _fnv1_32(text: str) -> int:
    """durable_rules' `fnv1Hash32` (state.c), the hash its message index files ids under."""
    value = _FNV_BASIS
    for byte in text.encode():
        value = ((value ^ byte) * _FNV_PRIME) & _MASK
    return value


def _event_ids(count: int) -> list[str]:
    """`count` short ids whose FNV-1 hashes differ pairwise and from the state fact's `sid-0`."""
    taken = {_fnv1_32("sid-0")}
    ids: list[str] = []
    candidate = 0
    while len(ids) < count:
        text = str(candidate)
        value = _fnv1_32(text)
        if value not in taken:
            taken.add(value)
            ids.append(text)
        candidate += 1
    return ids


_IDS = _event_ids(CHUNK)
_SLOT = {text: slot for slot, text in enumerate(_IDS)}
#: Events are posted as `{"id":"<id>",<body>}`; the drain reads the id back from the match.
_PREFIXES = [f'{{"id":"{text}",' for text in _IDS]
_MATCH_HEAD = '{"r":{"m":{"id":"'


class _RecordingHost(Host):
    """A Host whose actions only record; `DurableMatcher` drains matches itself (see above)."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        super().__init__()

    def get_action(self, action_name: str):
        hits = self.hits

        def record(closure) -> None:
            hits.append(closure.m["id"])

        return record

    def _run(self) -> None:  # no dispatch/timer threads: see the module docstring
        return None


class DurableMatcher:
    """Matches occurrences by posting them as events to one ruleset per automation."""

    def __init__(self, automations: Iterable) -> None:
        self.automations = tuple(automations)
        self._vocab = Vocabulary(self.automations)
        self._index = by_trigger(self.automations)
        self._names = [ruleset_name(i) for i in range(len(self.automations))]
        self._mrr: dict[Decimal, int] = {}
        self._closed = False
        self._broken = False
        definitions = rulesets(self.automations, self._vocab)
        with ENGINE_LOCK:
            self._host = _RecordingHost()
            try:
                if definitions:
                    self._host.set_rulesets(definitions)
                self._rulesets = [self._host.get_ruleset(name) for name in self._names]
            except Exception as error:  # the C core rejects a definition: name the cause
                self._delete_rulesets()
                raise EngineError(f"The rules engine refused the compiled automations: {error}") from error

    def match(self, occurrences: Iterable[Occurrence]) -> list[Match]:
        batch = occurrences if isinstance(occurrences, list) else list(occurrences)
        if self._closed:
            raise MatcherClosed()
        index, vocab, mrr = self._index, self._vocab, self._mrr
        candidates = [index.get(o.trigger) for o in batch]
        bodies = [event_body(o, vocab, mrr) if c else "" for o, c in zip(batch, candidates)]
        # (position, automation) as one int: no container per match for the GC to trace
        width = len(self.automations)
        matched: list[int] = []
        for start in range(0, len(batch), CHUNK):
            per_ruleset: dict[int, list[int]] = {}  # automation → chunk slots of its events
            events: list[str] = []  # by chunk slot: the whole event, with its id
            for slot, position in enumerate(range(start, min(start + CHUNK, len(batch)))):
                events.append(_PREFIXES[slot] + bodies[position] + "}")
                for i in candidates[position] or ():
                    per_ruleset.setdefault(i, []).append(slot)
            for i, slots in per_ruleset.items():
                payload = "[" + ",".join([events[slot] for slot in slots]) + "]"
                matched.extend((start + slot) * width + i for slot in self._post(i, payload, set(slots)))
        automations = self.automations
        matched.sort()  # occurrence order, then definition order (the automation indexes ascend)
        return [Match(automations[pair % width], batch[pair // width]) for pair in matched]

    def _post(self, index: int, payload: str, posted: set[int]) -> list[int]:
        """Post a chunk's events to automation `index`'s ruleset; the slots of those it matched.

        Under the lock: one `assert_events`, then the drain of every match it queued (see
        the module docstring), so the ruleset is empty again when the lock is released.
        """
        with ENGINE_LOCK:
            if self._closed:
                raise MatcherClosed()
            if self._broken:
                raise EngineError("This rules engine instance failed earlier; reload the rules.")
            handle = self._rulesets[index]._handle
            found: list[str] = []  # parsed after the drain, so nothing interrupts it
            try:
                code, state = durable_rules_engine.assert_events(handle, payload)
                started = durable_rules_engine.start_action_for_state(handle, state)
                messages = started[1] if started else None
                while messages is not None:
                    found.append(messages)
                    messages = durable_rules_engine.complete_and_start_action(handle, state)
            except Exception as error:
                try:
                    _discard_pending(handle)
                except EngineError:
                    self._broken = True  # answers could now be wrong: refuse all further work
                    raise
                raise EngineError(f"The rules engine failed on {self._names[index]}: {error}") from error
        if code not in (_HANDLED, _NOT_HANDLED):  # e.g. 2, "observed": an event was dropped
            raise EngineError(f"The rules engine answered {code} to a batch of {self._names[index]}.")
        slots = [_slot(messages) for messages in found]
        if len(set(slots)) != len(slots) or not posted.issuperset(slots):
            raise EngineError(f"The rules engine reported events {sorted(slots)} for a batch of "
                              f"{self._names[index]}.")
        return slots

    def close(self) -> None:
        """Retire this matcher and free its rulesets in the C core (idempotent)."""
        with ENGINE_LOCK:
            if not self._closed:
                self._closed = True
                self._delete_rulesets()

    def _delete_rulesets(self) -> None:
        # durable.engine.Host has no public way to drop a ruleset; its list and handles are it.
        for ruleset in self._host._ruleset_list:
            durable_rules_engine.delete_ruleset(ruleset._handle)
        self._host._ruleset_list = []
        self._host._ruleset_directory = {}


def _slot(messages: str) -> int:
    """The chunk slot of the event in one action's messages (`{"r":{"m":{"id":"7",…}}}`)."""
    if messages.startswith(_MATCH_HEAD):
        end = messages.find('"', len(_MATCH_HEAD))
        slot = _SLOT.get(messages[len(_MATCH_HEAD):end])
        if slot is not None:
            return slot
    raise EngineError(f"The rules engine reported a match this matcher cannot read: {messages[:200]}")


def _discard_pending(handle: int) -> None:
    """After a failed batch, complete whatever it left queued (unread), so no leftover match is
    drained later as a match of another batch; if even that fails, the ruleset is unusable."""
    try:
        started = durable_rules_engine.start_action(handle)
        while started:
            while durable_rules_engine.complete_and_start_action(handle, started[2]) is not None:
                pass
            started = durable_rules_engine.start_action(handle)
    except Exception as error:
        raise EngineError(f"The rules engine could not be cleaned after a failure: {error}") from error
