"""``import eggflow.tensor as T``: the frontend's tensor API (constructors and ops)."""

from .frontend.tensor import *  # noqa: F401,F403
from .frontend import tensor as _t

globals().update({k: v for k, v in vars(_t).items() if not k.startswith("__")})
