"""Wiring: build the App once per container from the environment. Entry modules import `app()`."""

from __future__ import annotations

from functools import lru_cache

from handler import model as model_module
from handler import storage
from handler.config import Settings
from handler.service import App
from handler.verify import chooser


def build(settings: Settings) -> App:
    return App(
        settings=settings,
        model=model_module.load(),
        storage=storage.Storage(storage.client()),
        choose=chooser(settings),
    )


@lru_cache(maxsize=1)
def app() -> App:
    """The container's App: settings read and the model loaded once, at the first call."""
    return build(Settings.from_env())
