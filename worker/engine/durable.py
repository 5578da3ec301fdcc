"""The durable_rules matcher, used in its safe subset (engine adapter; ARCHITECTURE.md, FACTS.md).

- One `durable.engine.Host` per matcher (never the global `durable.lang` API); rulesets set
  from dicts compiled by `worker.engine.compile`, actions bound by overriding `get_action`.
- Events only, stateless, single-event patterns: every event goes to the default sid, nothing
  is asserted as a fact, no timers. The Host's background dispatch/timer threads are never
  started (`_run` is a no-op): they would call into the C core outside our lock, and with
  events only `post` already runs the matched action inline before it returns.
- One process-wide lock around every call into the C core (it is not thread-safe, and Hosts
  share it).
- The action callback only records the event's sequence number (the engine swallows errors
  raised in actions, so it must not do work); an unmatched event (the C core's "not handled",
  `MessageNotHandledException` in `Host.post`) is a normal "no match". Events are posted with
  the ruleset's own C call (see `_post`), the same path `Host.post` takes, minus two JSON
  encodings per post.
- `close()` deletes this Host's rulesets from the C core (each leaks ~65 KB otherwise); a
  matcher closed by a reload raises `MatcherClosed`, and the live matcher retries on the new one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable

import durable_rules_engine
from durable.engine import Host

from worker.core.occurrences import Occurrence
from worker.engine.compile import (
    EngineError,
    Vocabulary,
    encode,
    ruleset_name,
    rulesets,
)
from worker.engine.interface import Match, MatcherClosed, by_trigger

#: `assert_event` result codes (durable.engine.Ruleset._handle_result).
_HANDLED, _NOT_HANDLED, _PENDING = 0, 1, 3
#: Every call into the durable_rules C core, from any Host, happens under this lock.
ENGINE_LOCK = threading.Lock()


class _RecordingHost(Host):
    """A Host whose every action appends the matched event's `n` to `hits`, and nothing else."""

    def __init__(self) -> None:
        self.hits: list[int] = []
        super().__init__()

    def get_action(self, action_name: str):
        hits = self.hits

        def record(closure) -> None:
            hits.append(closure.m["n"])

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
        self._seq = 0
        self._closed = False
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
        found: list[Match] = []
        for occurrence in occurrences:
            candidates = self._index.get(occurrence.trigger)
            if not candidates:
                continue
            body = json.dumps(encode(occurrence, self._vocab), separators=(",", ":"))
            for i in candidates:
                if self._post(i, body):
                    found.append(Match(self.automations[i], occurrence))
        return found

    def _post(self, index: int, body: str) -> bool:
        """Post one event to automation `index`'s ruleset; True when its rule matched.

        The same calls as `Host.post` (the ruleset's C `assert_event`, then `do_actions` for a
        match), but with the event serialised once per occurrence: `Host.post` serialises it
        again per post and once more inside `MessageNotHandledException` — 2/3 of its cost.
        """
        with ENGINE_LOCK:
            if self._closed:
                raise MatcherClosed()
            self._seq += 1
            seq = self._seq
            ruleset = self._rulesets[index]
            hits = self._host.hits
            hits.clear()
            try:
                result = durable_rules_engine.assert_event(ruleset._handle, f'{{"n":{seq},{body[1:]}')
                if result[0] == _NOT_HANDLED:
                    return False
                if result[0] not in (_HANDLED, _PENDING):
                    raise EngineError(f"The rules engine answered {result[0]} to event {seq}.")
                errors: list = []
                ruleset.do_actions(result[1] if result[0] == _HANDLED else 0,
                                   lambda error, _state: errors.append(error))
            except EngineError:
                raise
            except Exception as error:
                raise EngineError(f"The rules engine failed on {self._names[index]}: {error}") from error
            if errors[-1:] != [None] or hits != [seq]:
                raise EngineError(f"The rules engine reported {hits} ({errors}) for event {seq} "
                                  f"of {self._names[index]}.")
            return True

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
