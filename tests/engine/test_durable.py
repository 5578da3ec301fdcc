"""durable_rules in its safe subset: no engine threads, one lock, recording callbacks, reloads."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest

from worker.core.occurrences import Occurrence
from worker.engine import LiveMatcher, MatcherClosed, build_matcher, matcher_factory
from worker.engine.compile import EngineError
from worker.engine.durable import DurableMatcher
from worker.rules.model import Automation, Comparison, Conditions


def renewal(name="renewal", days=30, at_least="100") -> Automation:
    return Automation(name=name, on="renewal_due", within=timedelta(days=days),
                      conditions=Conditions(mrr=Comparison(op=">=", value=Decimal(at_least))))


def due(i: int, days: int = 10, mrr: str = "150") -> Occurrence:
    return Occurrence(trigger="renewal_due", contact_id=f"c{i}", key=f"k{i}", mrr=Decimal(mrr),
                      seconds_until=days * 86_400)


def names(matches) -> list[tuple[str, str]]:
    return [(m.automation.name, m.occurrence.contact_id) for m in matches]


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_building_and_matching_start_no_engine_threads():
    before = threading.active_count()
    matcher = DurableMatcher([renewal()])
    assert names(matcher.match([due(1)])) == [("renewal", "c1")]
    assert threading.active_count() == before  # Host._run's dispatch/timer threads never start
    matcher.close()


def test_an_unmatched_occurrence_is_a_normal_empty_answer():
    matcher = DurableMatcher([renewal()])
    assert matcher.match([due(1, mrr="99.99"), due(2, days=31)]) == []
    assert names(matcher.match([due(3)])) == [("renewal", "c3")]  # and the Host still works
    matcher.close()


def test_each_batch_is_drained_completely_and_the_host_actions_never_run():
    matcher = DurableMatcher([renewal(), renewal("b", days=5)])
    found = matcher.match([due(i, days=i % 10) for i in range(5000)])  # 3 chunks of events
    assert names(found) == names(build_matcher(matcher.automations, "reference").match(
        [due(i, days=i % 10) for i in range(5000)]))
    assert matcher._host.hits == []  # durable's Python action path (Closure, Promise) unused
    for name in ("a0", "a1"):
        assert matcher._host.get_ruleset(name).get_pending_events("0") == []
    matcher.close()


def test_batch_event_ids_never_collide_in_the_engines_32_bit_message_index():
    from worker.engine.durable import _IDS, CHUNK, _fnv1_32

    assert _fnv1_32("a") == 0xE40C292C  # the published 32-bit FNV-1a vector (durable's fnv1Hash32)
    hashes = {_fnv1_32(text) for text in _IDS} | {_fnv1_32("sid-0")}
    assert len(_IDS) == CHUNK and len(hashes) == CHUNK + 1


def test_ids_with_equal_hashes_would_lose_a_match_which_is_why_the_ids_are_chosen():
    import durable_rules_engine

    from worker.engine.durable import ENGINE_LOCK, _fnv1_32

    seen: dict[int, str] = {}
    for k in range(1_000_000):  # a birthday collision turns up after ~80,000 strings
        text = f"x{k}"
        if (other := seen.setdefault(_fnv1_32(text), text)) != text:
            break
    matcher = DurableMatcher([renewal()])
    body = '"t":0,"mrr":150000,"su":10'
    with ENGINE_LOCK:
        handle = matcher._rulesets[0]._handle
        code, state = durable_rules_engine.assert_events(handle, f'[{{"id":"{other}",{body}}},{{"id":"{text}",{body}}}]')
        drained = []
        messages = durable_rules_engine.start_action_for_state(handle, state)[1]
        while messages is not None:
            drained.append(messages)
            messages = durable_rules_engine.complete_and_start_action(handle, state)
    assert code == 2 and len(drained) == 1  # the second event was taken for a duplicate
    matcher.close()


def test_after_a_failed_batch_nothing_it_queued_is_read_as_a_later_match():
    import durable_rules_engine

    from worker.engine.durable import ENGINE_LOCK, _discard_pending

    matcher = DurableMatcher([renewal()])
    with ENGINE_LOCK:  # a batch that queued two matches and failed before its drain
        handle = matcher._rulesets[0]._handle
        durable_rules_engine.assert_events(handle, '[{"id":"0","t":0,"mrr":150000,"su":1},'
                                                   '{"id":"1","t":0,"mrr":150000,"su":1}]')
        _discard_pending(handle)
    assert matcher._host.get_ruleset("a0").get_pending_events("0") == []
    assert names(matcher.match([due(7, mrr="1"), due(8)])) == [("renewal", "c8")]
    matcher.close()


def test_an_event_too_wide_for_the_c_parser_is_refused_not_cut_from_the_batch():
    matcher = DurableMatcher([renewal()])
    wide = Occurrence(trigger="renewal_due", contact_id="c1", key="k1", mrr=Decimal(150),
                      seconds_until=10, plans=tuple(f"plan{i}" for i in range(201)))
    with pytest.raises(EngineError, match="too many plans"):
        matcher.match([due(1), wide])
    matcher.close()


def test_the_engine_keeps_no_state_between_events():
    matcher = DurableMatcher([renewal()])
    matcher.match([due(i) for i in range(200)] + [due(i, mrr="1") for i in range(200)])
    state = matcher._host.get_ruleset("a0").get_state("0")
    assert state == {"sid": "0", "id": "sid-0", "$s": 1}
    assert matcher._host.get_ruleset("a0").get_pending_events("0") == []
    matcher.close()


def test_threads_sharing_one_matcher_get_exactly_the_single_threaded_answers():
    automations = [renewal("a", 30, "100"), renewal("b", 7, "0"), renewal("c", 60, "200")]
    batches = [[due(i, days=i % 40, mrr=str(50 * (i % 7))) for i in range(t, t + 300)]
               for t in range(0, 1200, 300)]
    reference = build_matcher(automations, "reference")
    expected = [names(reference.match(b)) for b in batches]
    matcher = DurableMatcher(automations)
    results: dict[int, list] = {}

    def work(k: int) -> None:
        results[k] = names(matcher.match(batches[k]))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[k] for k in range(len(batches))] == expected
    matcher.close()


def test_a_closed_matcher_refuses_work_and_closing_twice_is_harmless():
    matcher = DurableMatcher([renewal()])
    matcher.close()
    matcher.close()
    with pytest.raises(MatcherClosed):
        matcher.match([due(1)])


def test_mrr_with_more_decimals_than_a_minor_unit_is_refused_not_misread():
    matcher = DurableMatcher([renewal()])
    with pytest.raises(EngineError, match="more than 3 decimals"):
        matcher.match([due(1, mrr="150.0001")])
    matcher.close()


# --- reloads -------------------------------------------------------------------------------

def test_a_reload_swaps_in_new_rules_built_on_a_new_host():
    live = LiveMatcher(matcher_factory("durable"), [renewal(at_least="100")])
    old = live._current
    assert names(live.match([due(1, mrr="50")])) == []
    live.reload([renewal(at_least="10")])
    assert live._current._host is not old._host
    assert names(live.match([due(1, mrr="50")])) == [("renewal", "c1")]
    assert live.generation == 2
    with pytest.raises(MatcherClosed):
        old.match([due(1)])
    live.close()


def test_a_reload_that_fails_keeps_the_old_rules_serving():
    calls = []

    def factory(automations):
        calls.append(automations)
        if len(calls) > 1:
            raise EngineError("refused")
        return build_matcher(automations, "durable")

    live = LiveMatcher(factory, [renewal()])
    with pytest.raises(EngineError):
        live.reload([renewal(at_least="1")])
    assert names(live.match([due(1)])) == [("renewal", "c1")]
    assert live.generation == 1
    live.close()


def test_matching_during_reloads_answers_each_batch_with_one_generation():
    strict, loose = [renewal(at_least="100")], [renewal(at_least="10")]
    live = LiveMatcher(matcher_factory("durable"), strict)
    batch = [due(i, mrr="50" if i % 2 else "150") for i in range(400)]
    answers, stop = [], threading.Event()

    def keep_matching() -> None:
        while not stop.is_set():
            answers.append(len(live.match(batch)))

    worker = threading.Thread(target=keep_matching)
    worker.start()
    for k in range(30):
        live.reload(loose if k % 2 == 0 else strict)
    stop.set()
    worker.join()
    assert answers and set(answers) <= {200, 400}  # never a mix of two rule generations
    live.close()


def test_many_reloads_free_the_old_rulesets():
    automations = [renewal(f"a{i}") for i in range(20)]
    live = LiveMatcher(matcher_factory("durable"), automations)
    live.reload(automations)
    before = rss_kb()
    for _ in range(150):
        live.reload(automations)
    # 150 × 20 leaked rulesets would be ~190 MB (~65 KB each); deleted ones cost a few KB.
    assert rss_kb() - before < 60_000
    assert names(live.match([due(1)]))[:2] == [("a0", "c1"), ("a1", "c1")]
    live.close()
