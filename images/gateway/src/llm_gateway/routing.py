"""Model -> backends: weighted choice (canary splits), pinning, fallback order and passive health.

A backend is ejected after `failure_threshold` consecutive failures; after `eject_seconds` one probe
request may go to it (half-open): success brings it back, failure ejects it again. Weight-0 backends
take no share of traffic and serve only as fallbacks.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from llm_gateway.config import Backend, Config


@dataclass
class BackendState:
    model: str
    backend: Backend
    failures: int = 0
    ejected_until: float = 0.0
    probing: bool = False

    @property
    def name(self) -> str:
        return self.backend.name


class Router:
    def __init__(self, config: Config, rng: random.Random | None = None, clock=time.monotonic):
        self.rng = rng or random.Random()
        self.clock = clock
        self.states: dict[str, list[BackendState]] = {}
        self.update(config)

    def update(self, config: Config) -> None:
        """Swap in a new config; backends that stay (same model, name and URL) keep their health."""
        old = {(s.model, s.name, s.backend.url): s for states in self.states.values() for s in states}
        self.config = config
        self.states = {}
        for model, route in config.routes.items():
            states = []
            for backend in route.backends:
                state = old.get((model, backend.name, backend.url)) or BackendState(model, backend)
                state.backend = backend
                states.append(state)
            self.states[model] = states

    def models(self) -> list[str]:
        return list(self.states)

    def _available(self, state: BackendState, now: float) -> bool:
        return state.ejected_until <= now

    def _probe_ready(self, state: BackendState, now: float) -> bool:
        return state.ejected_until > 0 and state.ejected_until <= now and not state.probing

    def plan(self, model: str, pin: str = "") -> list[BackendState]:
        """Backends to try in order: the weighted pick (or the pinned one) first, then fallbacks.
        Empty when the model has no backend ready (the caller answers 503 + Retry-After)."""
        now = self.clock()
        states = self.states[model]
        if pin:
            return [s for s in states if s.name == pin and self._available(s, now)]
        ready = [s for s in states if self._available(s, now)]
        weighted = [s for s in ready if s.backend.weight > 0]
        order: list[BackendState] = []
        if weighted:
            total = sum(s.backend.weight for s in weighted)
            point = self.rng.random() * total
            for s in weighted:
                point -= s.backend.weight
                if point < 0:
                    order.append(s)
                    break
            else:
                order.append(weighted[-1])
        order += sorted((s for s in ready if s not in order), key=lambda s: -s.backend.weight)
        for s in order:
            if self._probe_ready(s, now):
                s.probing = True  # half-open: this request is the probe
        return order

    def succeeded(self, state: BackendState) -> None:
        state.failures = 0
        state.ejected_until = 0.0
        state.probing = False

    def failed(self, state: BackendState) -> None:
        state.failures += 1
        if state.probing or state.failures >= self.config.health.failure_threshold:
            state.ejected_until = self.clock() + self.config.health.eject_seconds
        state.probing = False

    def ready_count(self, model: str) -> int:
        now = self.clock()
        return sum(self._available(s, now) for s in self.states[model])
