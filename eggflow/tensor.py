"""``import eggflow.tensor as T``: the frontend's tensor API (constructors and ops)."""

from .frontend.tensor import *  # noqa: F401,F403
