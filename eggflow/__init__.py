"""eggflow: a Theano-style optimizing compiler for tensor expressions, optimized by an e-graph.

    import eggflow as ef
    import eggflow.tensor as T
    x, y = T.dscalars("x", "y")
    f = ef.function([x, y], x + y)
    f(1.5, 2.5)  # array(4.)
"""

from .frontend.config import config
from .frontend.grad import grad, hessian, jacobian
from .frontend.gradcheck import verify_grad
from .frontend.graph import SharedVariable, shared
from .function import DebugModeError, Function, MissingInputError, UnusedInputError, function
from .mode import Mode
from .optimize import optimize
from . import printing, rules, tensor

__version__ = "0.1.0"
__all__ = ["config", "function", "Function", "shared", "SharedVariable", "grad", "jacobian",
           "hessian", "verify_grad", "Mode", "optimize", "printing", "rules", "tensor",
           "MissingInputError", "UnusedInputError", "DebugModeError"]
