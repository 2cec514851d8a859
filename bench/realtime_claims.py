"""Claim races: many agents claim one conversation at once; exactly one may win.

Each race is judged three ways: the HTTP answers (one 200, the rest 409), the
stored assignee, and the `conversation.assigned` frames (one per viewer,
naming the winner). Latency runs from the winning POST to each frame.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from bench.realtime_fleet import Arrival, Fleet
from bench.realtime_phases import drain, summary
from bench.realtime_targets import Attempt, Target


async def claim_phase(
    target: Target, fleet: Fleet, viewers: int, races: int, racers: int
) -> dict[str, Any]:
    """`racers` agents claim each of `races` fresh conversations at once."""
    conversations = [await target.new_conversation() for _ in range(races)]
    await target.warm(racers)
    await asyncio.sleep(0.3)
    await fleet.collect()
    await fleet.watch('"conversation.assigned"')
    outcomes: list[tuple[int, list[Attempt]]] = []
    for n, conversation_id in enumerate(conversations):
        attempts = list(
            await asyncio.gather(*(target.claim(conversation_id, r) for r in range(racers)))
        )
        outcomes.append((conversation_id, attempts))
        await drain(fleet, (n + 1) * viewers, within=10.0)
    arrivals, closed = await fleet.collect()
    return await _judge_claims(target, outcomes, arrivals, viewers, len(closed))


async def _judge_claims(
    target: Target,
    outcomes: list[tuple[int, list[Attempt]]],
    arrivals: list[Arrival],
    viewers: int,
    closed: int,
) -> dict[str, Any]:
    frames: dict[int, list[Arrival]] = defaultdict(list)
    for a in arrivals:
        if a.type == "conversation.assigned" and a.key is not None:
            frames[a.key].append(a)
    clean, latencies, problems = 0, [], []
    statuses: dict[int, int] = defaultdict(int)
    for conversation_id, attempts in outcomes:
        for attempt in attempts:
            statuses[attempt.status] += 1
        winners = [a for a in attempts if a.status == 200]
        losers_told = all(a.status == 409 for a in attempts if a.status != 200)
        stored = await target.assignee(conversation_id)
        got = frames.get(conversation_id, [])
        per_socket: dict[int, int] = defaultdict(int)
        for a in got:
            per_socket[a.socket] += 1
        one_winner = len(winners) == 1 and losers_told and stored == winners[0].agent
        frames_right = (
            len(per_socket) == viewers
            and all(c == 1 for c in per_socket.values())
            and all(winners and a.assignee == winners[0].agent for a in got)
        )
        if one_winner:
            clean += 1
            latencies += [(a.t_ns - winners[0].t_ns) / 1e6 for a in got]
        if not (one_winner and frames_right):
            problems.append(
                f"conversation {conversation_id}: {len(winners)} winners, stored {stored}, "
                f"frames on {len(per_socket)}/{viewers} sockets"
            )
    return {
        "races": len(outcomes),
        "racers": len(outcomes[0][1]) if outcomes else 0,
        "viewers": viewers,
        "exactly_one_winner": clean,
        "all_viewers_told_once": len(outcomes) - len(problems),
        "statuses": dict(statuses),
        "sockets_closed": closed,
        **summary(latencies),
        "problems": problems[:5],
    }
