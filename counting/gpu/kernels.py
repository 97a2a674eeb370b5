"""CUDA kernels: one thread per model, a whole training epoch (or a whole evaluation set) per
launch. The dataset is shared read-only as flat tokens (int8) + offsets (int64, S+1).

    train[grid, block](params, adam_m, adam_v, tokens, offsets, orders, nss, bc2s, status, loss)
        params, adam_m, adam_v (P, M) kernel dtype, updated in place; orders (M, n) the epoch's
        presentation order of every model; nss, bc2s (n,) Adam's -lr/(1 - b1^s) and
        sqrt(1 - b2^s) for the epoch's steps s (computed on the host in Python floats as torch
        does); status (M,) int32, 0 = training, 1 = diverged (skipped; set here when a
        sequence's loss is not finite); loss (M,) float64 <- mean online loss of the epoch (the
        non-finite loss itself when the model diverges, as the reference backend returns it).

    evaluate[grid, block](params, tokens, offsets, loss_sum, fully, fpf_sum, classes, fpfs)
        per model: loss_sum (M,) f64 = sum over sequences of each sequence's mean loss, computed
        in float64 from the probabilities as `counting.metrics.evaluate` does; fully (M,) int64
        sequences with every token right; fpf_sum (M,) int64; classes (M, 4) int64 counts of
        the first failures by class (see `counting.gpu.verdict`); fpfs (M, S) int32 per
        sequence FPF, or a (0, 0) array to skip them.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from counting.gpu.cells import make_cell
from counting.gpu.device import cuda_module, simulator_active
from counting.gpu.numerics import numerics
from counting.gpu.params import n_params, offsets

# A module global (not a closure variable): the simulator swaps module globals that are
# numba.cuda for its fake module while a kernel runs.
cuda = cuda_module()


def scratch_len(max_len: int) -> int:
    """Kernels are compiled for a maximal training length rounded up to a multiple of 16."""
    return max(16, -(-int(max_len) // 16) * 16)


ADAM_STATES = ("global", "local")


@functools.cache
def train_kernel(cell: str, dtype: str, loss: str, maxlen: int, adam_state: str = "global",
                 max_registers: int | None = None):
    """The compiled (lazily, per argument types) training kernel; `max_registers` caps the
    registers per thread (more threads resident, some spills), None lets the compiler choose."""
    opts = {} if max_registers is None or simulator_active() else {"max_registers": max_registers}
    return cuda.jit(train_function(cell, dtype, loss, maxlen, adam_state), **opts)


def train_function(cell: str, dtype: str, loss: str, maxlen: int, adam_state: str = "global"):
    """The training kernel's Python function (its device functions already wrapped).

    adam_state: "global" reads and writes Adam's moments in the (P, M) arrays at every step
    (fewer registers, more threads resident); "local" keeps them in the thread for the epoch.
    """
    if adam_state not in ADAM_STATES:
        raise ValueError(f"adam_state must be one of {ADAM_STATES}, got {adam_state!r}")
    num = numerics(dtype, simulator_active())
    train_seq, _, _, K = make_cell(cell, num, loss, cuda)
    P = n_params(cell)
    NB, ZERO, cast, cast64, sqrt = num.nbtype, num.ZERO, num.cast, num.cast64, num.sqrt
    B1W, B2, B2W, EPS = num.B1W, num.B2, num.B2W, num.EPS
    F64_0, F64_2 = np.float64(0.0), np.float64(2.0)
    MSE = loss == "mse"
    GLOBAL = adam_state == "global"
    LOCAL_P = 1 if GLOBAL else P

    @cuda.jit(device=True)
    def adam(w, g, am, av, col, nss, bc2s):
        """torch's _single_tensor_adam per parameter: lerp_, mul_ + addcmul_, sqrt / bc2 + eps,
        addcdiv_. am, av are (P, M) arrays with col = the model, or (P,) arrays with col unused."""
        for p in range(P):
            gp = g[p]
            if GLOBAL:
                mo = am[p, col]
                vo = av[p, col]
            else:
                mo = am[p]
                vo = av[p]
            m = mo + B1W * (gp - mo)
            v = vo * B2 + (B2W * gp) * gp
            if GLOBAL:
                am[p, col] = m
                av[p, col] = v
            else:
                am[p] = m
                av[p] = v
            w[p] = w[p] + (nss * m) / (cast(sqrt(v)) / bc2s + EPS)

    def kernel(params, adam_m, adam_v, tokens, offs, orders, nss, bc2s, status, loss_out):
        m = cuda.grid(1)
        if m >= params.shape[1]:
            return
        if status[m] != 0:
            loss_out[m] = math.nan
            return
        w = cuda.local.array(P, NB)
        g = cuda.local.array(P, NB)
        mm = cuda.local.array(LOCAL_P, NB)
        vv = cuda.local.array(LOCAL_P, NB)
        st = cuda.local.array((maxlen, K), NB)
        for p in range(P):
            w[p] = params[p, m]
            if not GLOBAL:
                mm[p] = adam_m[p, m]
                vv[p] = adam_v[p, m]
        n = orders.shape[1]
        total = F64_0
        for k in range(n):
            s = orders[m, k]
            start = offs[s]
            L = offs[s + 1] - start
            for p in range(P):
                g[p] = ZERO
            scale = cast(F64_2 / cast64(2 * L)) if MSE else cast(2 * L)
            lv = train_seq(w, g, tokens, start, L, st, scale)
            if GLOBAL:
                adam(w, g, adam_m, adam_v, m, nss[k], bc2s[k])
            else:
                adam(w, g, mm, vv, m, nss[k], bc2s[k])
            if math.isnan(lv) or math.isinf(lv):
                status[m] = 1
                total = cast64(lv)
                break
            total += cast64(lv)
        for p in range(P):
            params[p, m] = w[p]
            if not GLOBAL:
                adam_m[p, m] = mm[p]
                adam_v[p, m] = vv[p]
        loss_out[m] = total if status[m] != 0 else total / cast64(n)

    return kernel


@functools.cache
def eval_kernel(cell: str, dtype: str, loss: str):
    """The compiled (lazily, per argument types) evaluation kernel."""
    return cuda.jit(eval_function(cell, dtype, loss))


def eval_function(cell: str, dtype: str, loss: str):
    """The evaluation kernel's Python function (its device functions already wrapped)."""
    num = numerics(dtype, simulator_active())
    _, step, sigmoid, _ = make_cell(cell, num, loss, cuda)
    P = n_params(cell)
    o = offsets(cell)
    WR, BR = o["wr"], o["br"]
    NB, ZERO, HALF, cast64 = num.nbtype, num.ZERO, num.HALF, num.cast64
    log = num.log
    F0, F1 = np.float64(0.0), np.float64(1.0)
    PMIN = np.float64(math.exp(-100))  # metrics.sequence_loss clips probabilities there
    MSE = loss == "mse"

    @cuda.jit(device=True)
    def term(y, t):
        """Loss of one output in float64, as counting.metrics.sequence_loss."""
        p = cast64(y)
        if MSE:
            return (p - t) * (p - t)
        q = F1 - p
        p = PMIN if p < PMIN else p
        q = PMIN if q < PMIN else q
        return -(t * log(p) + (F1 - t) * log(q))

    def kernel(params, tokens, offs, loss_sum, fully, fpf_sum, classes, fpfs):
        m = cuda.grid(1)
        if m >= params.shape[1]:
            return
        w = cuda.local.array(P, NB)
        for p in range(P):
            w[p] = params[p, m]
        keep = fpfs.shape[0] > 0
        lsum = F0
        nfull = 0
        fsum = 0
        c0 = 0
        c1 = 0
        c2 = 0
        c3 = 0
        for s in range(offs.shape[0] - 1):
            start = offs[s]
            L = offs[s + 1] - start
            h = ZERO
            c = ZERO
            depth = 0
            peak = 0
            fpf = L
            cls = 3
            sq = F0
            for t in range(L):
                tok = int(tokens[start + t])
                h, c = step(w, tok, h, c)
                y0 = sigmoid(h * w[WR] + w[BR])
                y1 = sigmoid(h * w[WR + 1] + w[BR + 1])
                depth += 1 - 2 * tok
                if depth > peak:
                    peak = depth
                sq += term(y0, F1) + term(y1, F1 if depth > 0 else F0)
                if fpf == L:
                    ok1 = (y1 > HALF) == (depth > 0)
                    if not (y0 > HALF and ok1):
                        fpf = t
                        if ok1:
                            cls = 3  # other: output 0 wrong
                        elif depth == 0:
                            cls = 0  # at-zero
                        elif 2 * depth <= peak:
                            cls = 1  # early
                        else:
                            cls = 2  # depth-dependent
                if depth == 0:
                    peak = 0
            lsum += sq / cast64(2 * L)
            fsum += fpf
            if fpf == L:
                nfull += 1
            elif cls == 0:
                c0 += 1
            elif cls == 1:
                c1 += 1
            elif cls == 2:
                c2 += 1
            else:
                c3 += 1
            if keep:
                fpfs[m, s] = fpf
        loss_sum[m] = lsum
        fully[m] = nfull
        fpf_sum[m] = fsum
        classes[m, 0] = c0
        classes[m, 1] = c1
        classes[m, 2] = c2
        classes[m, 3] = c3

    return kernel
