"""Layout/BLAS rules (the late phase): dot products become BLAS calls with their updates.

Transposes, dimshuffles, reshapes and basic slices are views: the cost model prices them at
zero bytes, and the generated BLAS call reads a transposed operand through its trans flag (the
C runtime inspects strides), so ``dot(x.T, y)`` needs no rule. These rules fold the update
forms into one BLAS call: ``z + alpha*dot(x, y)`` is gemm (matrices) or gemv (matrix-vector),
``a + alpha*outer(x, y)`` is ger.
"""

from __future__ import annotations

import eggflow.frontend.tensor as T

from .dsl import RuleSet, const, has_ndim, is_float, op, rewrite, same_dtype
from .dsl import vars as pvars

x, y, z, al = pvars("x y z alpha")
c = const("c")  # a Python-number alpha (weak: it takes z's dtype, as in SGD's w - lr*g)


def _forms(name, nx, ny, nz):
    when = [has_ndim(x, nx), has_ndim(y, ny), has_ndim(z, nz), is_float(z), same_dtype(x, y),
            same_dtype(x, z)]
    d = op("dot", x, y)
    aw = when + [same_dtype(al, z), has_ndim(al, 0)]
    # z + alpha*dot(x, y) = gemm/gemv(z, alpha, x, y, 1), each sign and operand order
    return [
        rewrite(f"{name}-add", d + z, op(name, z, 1, x, y, 1), when=when,
                law=f"dot(x, y) + z = {name}(z, 1, x, y, 1)"),
        rewrite(f"{name}-add-r", z + d, op(name, z, 1, x, y, 1), when=when,
                law=f"z + dot(x, y) = {name}(z, 1, x, y, 1)"),
        rewrite(f"{name}-sub", z - d, op(name, z, -1, x, y, 1), when=when,
                law=f"z - dot(x, y) = {name}(z, -1, x, y, 1)"),
        rewrite(f"{name}-rsub", d - z, op(name, z, 1, x, y, -1), when=when,
                law=f"dot(x, y) - z = {name}(z, 1, x, y, -1)"),
        rewrite(f"{name}-axpy", z + al * d, op(name, z, al, x, y, 1), when=aw,
                law=f"z + alpha*dot(x, y) = {name}(z, alpha, x, y, 1)"),
        rewrite(f"{name}-axpy-r", z + d * al, op(name, z, al, x, y, 1), when=aw,
                law=f"z + dot(x, y)*alpha = {name}(z, alpha, x, y, 1)"),
        rewrite(f"{name}-axmy", z - al * d, op(name, z, -al, x, y, 1), when=aw,
                law=f"z - alpha*dot(x, y) = {name}(z, -alpha, x, y, 1)"),
        rewrite(f"{name}-axmy-r", z - d * al, op(name, z, -al, x, y, 1), when=aw,
                law=f"z - dot(x, y)*alpha = {name}(z, -alpha, x, y, 1)"),
        rewrite(f"{name}-cxpy", z + c * d, op(name, z, c, x, y, 1), when=when,
                law=f"z + c*dot(x, y) = {name}(z, c, x, y, 1) for a Python number c"),
        rewrite(f"{name}-cxpy-r", z + d * c, op(name, z, c, x, y, 1), when=when,
                law=f"z + dot(x, y)*c = {name}(z, c, x, y, 1) for a Python number c"),
    ]


(u, v) = pvars("u v", ndim=1)
outer = T.dot(op("dimshuffle", u, pattern=(0, "x")), op("dimshuffle", v, pattern=("x", 0)))
gw = [has_ndim(z, 2), is_float(z), same_dtype(u, v), same_dtype(u, z)]
aw = gw + [same_dtype(al, z), has_ndim(al, 0)]
R = _forms("gemm", 2, 2, 2) + _forms("gemv", 2, 1, 1)
R += [
    # z + alpha*outer(u, v) = ger(z, alpha, u, v)
    rewrite("ger-add", z + outer, op("ger", z, 1, u, v), when=gw,
            law="z + outer(u, v) = ger(z, 1, u, v)"),
    rewrite("ger-sub", z - outer, op("ger", z, -1, u, v), when=gw,
            law="z - outer(u, v) = ger(z, -1, u, v)"),
    rewrite("ger-axpy", z + al * outer, op("ger", z, al, u, v), when=aw,
            law="z + alpha*outer(u, v) = ger(z, alpha, u, v)"),
    rewrite("ger-axmy", z - al * outer, op("ger", z, -al, u, v), when=aw,
            law="z - alpha*outer(u, v) = ger(z, -alpha, u, v)"),
]

RULES = RuleSet("layout", "layout", R)
