"""LLVM instructions numba does not emit on its own, for the kernels.

- `fma(a, b, c)`: a*b + c with one rounding (`llvm.fma.f64`). torch's CPU `lerp`, which
  Adam uses for the first moment, is computed with a fused multiply-add; matching it bit for
  bit needs the same instruction (fastmath stays off, so LLVM never fuses on its own).
- `atomic_add(arr, i, v)`: atomically arr[i] += v on an int64 array, returning the old
  value (`atomicrmw add`, sequentially consistent) - a shared work counter that lets the
  threads of a `prange` take models one at a time (dynamic load balancing).
- `as_float(i)`: reinterpret an int64's bits as a float64 (builds 2^k in
  `counting.engine.mathfn.vexp`).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def fma(typingctx, a, b, c):
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(d, [d, d, d]), "llvm.fma.f64"
        )
        return builder.call(fn, args)

    return sig, codegen


@intrinsic
def atomic_add(typingctx, arr, i, v):
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1):
        return None
    sig = types.int64(arr, types.intp, types.int64)

    def codegen(context, builder, signature, args):
        arrty = signature.args[0]
        ary = context.make_array(arrty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, arrty, ary, [args[1]])
        return builder.atomic_rmw("add", ptr, args[2], "seq_cst")

    return sig, codegen


@intrinsic
def as_float(typingctx, i):
    """The float64 whose bits are the int64 `i` (a bit cast, no conversion)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen
