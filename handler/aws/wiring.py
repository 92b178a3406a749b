"""Wiring: build the App once per container from the environment. Entry modules import `app()`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from handler.aws import storage
from handler.quality import model as model_module
from handler.quality.model import Model
from handler.settings import Locations, Settings


@dataclass(frozen=True)
class App:
    """What a warm container keeps: settings, where to read and write, the model and storage, made once."""

    settings: Settings
    locations: Locations
    model: Model
    storage: storage.Storage


def build(settings: Settings, locations: Locations) -> App:
    return App(settings, locations, model_module.load(), storage.Storage(storage.client()))


@lru_cache(maxsize=1)
def app() -> App:
    """The container's App: settings read and the model loaded once, at the first call."""
    return build(Settings.from_env(), Locations.from_env())
