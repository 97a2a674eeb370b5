"""Hand-built counters as ordinary `CounterRNN`s (hidden size 1, same checkpoint format).

Every construction has a counter variable u (LSTM: the cell c; ReLU and GRU: h) updated per
token by an affine map u' = a u + b, and a readout whose ')'-output logit is positive exactly
when u is above a threshold halfway up the first step. Output 0 ('(' may follow) is a constant
logit +L. With L = `logit_margin` (default 5):

exact_counter('relu'):   h' = relu(h + [1, -1] x)            = depth
    W_ih = [[1, -1]], W_hh = [[1]], b_ih = b_hh = [0];  readout W = [[0], [2L]], b = [L, -L]
exact_counter('lstm'):   i = f = o = 1, g = +-1, c' = c + g   = depth, h = tanh(depth)
    W_ih rows (i, f, g, o) = [0, 0], [0, 0], [G, -G], [0, 0];  W_hh = 0
    b_ih = [S, S, 0, S], b_hh = 0;  readout W = [[0], [L / tanh(1/2)]], b = [L, -L]
    with S = ceil(gate_margin * sigmoid threshold), G = ceil(gate_margin * tanh threshold), the
    thresholds of `saturation_threshold(.., dtype)` (all kernels): float64 S = 74, G = 39;
    float32 S = 35, G = 19 (gate_margin 2). The ')'-logit crosses 0 at tanh(c) = tanh(1/2).
leaky_counter('lstm', eps):  as exact_counter('lstm') but b_ih[f] = logit(1 - eps), so
    c' = (1 - eps) c + g.
leaky_counter('gru', eps):   z = 1 - eps, n = +-1 (r is irrelevant: W_hn = b_hn = 0), so
    h' = (1 - z) n + z h = eps n + (1 - eps) h, and u = h / eps follows u' = (1 - eps) u + n.
    W_ih rows (r, z, n) = [0, 0], [0, 0], [G, -G];  W_hh = 0;  b_ih = [0, logit(1 - eps), 0]
    b_hh = 0;  readout W = [[0], [2L / eps]], b = [L, -L]  (threshold h = eps / 2).
mismatched_relu(up, down, w_hh):  W_ih = [[up, -down]], W_hh = [[w_hh]], biases 0;
    readout W = [[0], [2L / up]], b = [L, -L]  (threshold h = up / 2).

Why no GRU counts unboundedly (proof sketch). h' = (1 - z) n + z h with z in (0, 1) and
n = tanh(.) in (-1, 1) is a convex combination, so from h0 = 0 every state has |h| < 1: the
state space is bounded, and a counter with a constant step in a bounded interval must stop
after finitely many steps. A constant step needs (1 - z)(n - h) = +delta on '(' and -delta on
')' at every reachable h; as |h| -> 1 the factor n - h of the bracket pushing outwards
shrinks, so (1 - z) must grow like 1 / (n - h) - and it must do so for '(' near h -> 1 while
shrinking for ')' there (and vice versa near -1). z = sigma(W_iz x + b_z + W_hz h) is monotone
in h with ONE shared slope W_hz for both brackets, so it cannot grow towards +1 for one
bracket and towards -1 for the other while keeping both steps equal; the best it can do is
the leaky counter (constant z, so the step is eps (n - h) and shrinks as |h| grows), whose
first failure on nesting depth D is derived in `constructions.affine`: u at depth 1 after
opening D and closing D - 1 is 1 - eps (D^2 - 1) + O(eps^2), below the threshold 1/2 once
eps (D^2 - 1) reaches about 1/2.
"""

from __future__ import annotations

import math

import torch

from constructions.saturation import kernel_values, saturation_threshold
from counting.models import CounterRNN, dtype_name, resolve_dtype

LOGIT_MARGIN = 5.0
GATE_MARGIN = 2.0
EXACT_CELLS = ("lstm", "relu")
LEAKY_CELLS = ("lstm", "gru")


def gate_magnitudes(dtype=torch.float64, gate_margin: float = GATE_MARGIN) -> tuple[float, float]:
    """(S, G): the sigmoid-gate and tanh-candidate pre-activations the constructions use,
    ceil(gate_margin * threshold) for the thresholds of every kernel in `dtype`."""
    if not gate_margin >= 1.0:
        raise ValueError(f"gate_margin must be >= 1 (a gate below threshold is not saturated), "
                         f"got {gate_margin!r}")
    dtype = resolve_dtype(dtype)
    S = float(math.ceil(gate_margin * saturation_threshold("sigmoid", dtype)))
    G = float(math.ceil(gate_margin * saturation_threshold("tanh", dtype)))
    return S, G


def _check_margin(logit_margin: float) -> None:
    if not (math.isfinite(logit_margin) and logit_margin > 0):
        raise ValueError(f"logit_margin must be a positive number, got {logit_margin!r}")


def _check_eps(eps: float) -> None:
    if not (isinstance(eps, (int, float)) and 0.0 < eps < 1.0):
        raise ValueError(f"eps must be in (0, 1), got {eps!r} (eps = 0 is exact_counter)")


def _set(model: CounterRNN, **params) -> CounterRNN:
    """Copy {name: nested list} into model's parameters (names as in the state_dict)."""
    state = model.state_dict()
    with torch.no_grad():
        for name, value in params.items():
            t = torch.tensor(value, dtype=torch.float64)
            if t.shape != state[name].shape:
                raise AssertionError(f"{name}: {tuple(t.shape)} != {tuple(state[name].shape)}")
            state[name].copy_(t.to(model.dtype))
    model.eval()
    return model


def _lstm(dtype, f_bias: float | None, logit_margin: float, gate_margin: float) -> CounterRNN:
    S, G = gate_magnitudes(dtype, gate_margin)
    L = logit_margin
    return _set(
        CounterRNN("lstm", 1, dtype),
        **{
            "rnn.weight_ih_l0": [[0.0, 0.0], [0.0, 0.0], [G, -G], [0.0, 0.0]],
            "rnn.weight_hh_l0": [[0.0]] * 4,
            "rnn.bias_ih_l0": [S, S if f_bias is None else f_bias, 0.0, S],
            "rnn.bias_hh_l0": [0.0] * 4,
            "readout.weight": [[0.0], [L / math.tanh(0.5)]],
            "readout.bias": [L, -L],
        },
    )


def _relu(dtype, up, down, w_hh, logit_margin) -> CounterRNN:
    L = logit_margin
    return _set(
        CounterRNN("relu", 1, dtype),
        **{
            "rnn.weight_ih_l0": [[up, -down]],
            "rnn.weight_hh_l0": [[w_hh]],
            "rnn.bias_ih_l0": [0.0],
            "rnn.bias_hh_l0": [0.0],
            "readout.weight": [[0.0], [2.0 * L / up]],
            "readout.bias": [L, -L],
        },
    )


def _tag(model: CounterRNN, name: str, **params) -> CounterRNN:
    """Record what was built (`model.construction`, written into checkpoint meta by the CLI)."""
    model.construction = {"construction": name, "cell": model.cell,
                          "dtype": dtype_name(model.dtype), **params}
    return model


def exact_counter(cell: str, dtype=torch.float64, *, logit_margin: float = LOGIT_MARGIN,
                  gate_margin: float = GATE_MARGIN) -> CounterRNN:
    """An exact Dyck-1 counter: 'relu' (h_t = depth) or 'lstm' (c_t = depth, i = f = o = 1.0
    and g = +-1.0 exactly). The ')'-logit is L (depth/0.5 - 1) for ReLU; both outputs are right
    at every depth the dtype can count to (2^24 in float32, 2^53 in float64).

    'gru' raises ValueError: no GRU counts exactly; see `leaky_counter('gru', eps)`.
    """
    dtype = resolve_dtype(dtype)
    _check_margin(logit_margin)
    if cell == "gru":
        raise ValueError(
            "a GRU cannot count exactly (h' is a convex combination of h and a candidate in "
            "(-1, 1), so |h| < 1); use constructions.leaky_counter('gru', eps) for the best "
            "GRU counter"
        )
    if cell == "lstm":
        model = _lstm(dtype, None, logit_margin, gate_margin)
        return _tag(model, "exact", logit_margin=logit_margin, gate_margin=gate_margin)
    if cell == "relu":
        model = _relu(dtype, 1.0, 1.0, 1.0, logit_margin)
        return _tag(model, "exact", logit_margin=logit_margin)
    raise ValueError(f"cell must be 'lstm' or 'relu' for an exact counter, got {cell!r}")


def leaky_counter(cell: str, eps: float, dtype=torch.float64, *,
                  logit_margin: float = LOGIT_MARGIN,
                  gate_margin: float = GATE_MARGIN) -> CounterRNN:
    """A counter that forgets a fraction eps per token.

    'lstm': the exact LSTM with forget gate f = sigma(logit(1 - eps)) ~ 1 - eps:
            c' = (1 - eps) c +- 1.
    'gru':  update gate z = 1 - eps, candidate n = +-1: h' = eps n + (1 - eps) h, counter
            u = h / eps with u' = (1 - eps) u +- 1 (the best a GRU can do; module docstring).
    Raises ValueError if eps is not in (0, 1) or is too small for the dtype (the gate would
    round to exactly 1.0 and the model would be exact or, for the GRU, stop counting).
    """
    dtype = resolve_dtype(dtype)
    _check_eps(eps)
    _check_margin(logit_margin)
    logit = math.log1p(-eps) - math.log(eps)
    kernel = {"lstm": "lstm", "gru": "gru"}.get(cell)
    if kernel is None:
        raise ValueError(f"cell must be 'lstm' or 'gru' for a leaky counter, got {cell!r} "
                         "(a leaky ReLU is mismatched_relu(w_hh=1 - eps))")
    gate = float(kernel_values("sigmoid", [logit], dtype, kernel)[0])
    if gate == 1.0:
        raise ValueError(f"eps={eps!r} is too small for {dtype_name(dtype)}: the gate "
                         f"sigma(logit(1 - eps)) rounds to exactly 1.0")
    if cell == "lstm":
        model = _lstm(dtype, logit, logit_margin, gate_margin)
    else:
        _, G = gate_magnitudes(dtype, gate_margin)
        L = logit_margin
        model = _set(
            CounterRNN("gru", 1, dtype),
            **{
                "rnn.weight_ih_l0": [[0.0, 0.0], [0.0, 0.0], [G, -G]],
                "rnn.weight_hh_l0": [[0.0]] * 3,
                "rnn.bias_ih_l0": [0.0, logit, 0.0],
                "rnn.bias_hh_l0": [0.0] * 3,
                "readout.weight": [[0.0], [2.0 * L / eps]],
                "readout.bias": [L, -L],
            },
        )
    return _tag(model, "leaky", eps=float(eps), logit_margin=logit_margin,
                gate_margin=gate_margin)


def mismatched_relu(up: float = 1.0, down: float = 1.0, w_hh: float = 1.0,
                    dtype=torch.float64, *, logit_margin: float = LOGIT_MARGIN) -> CounterRNN:
    """A ReLU counter h' = relu(w_hh h + up) on '(' and relu(w_hh h - down) on ')', read out
    with threshold up / 2. up = down = w_hh = 1 is `exact_counter('relu')`.

    Raises ValueError unless up > 0, down > 0 and w_hh is finite.
    """
    dtype = resolve_dtype(dtype)
    _check_margin(logit_margin)
    for name, v in (("up", up), ("down", down)):
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive number, got {v!r}")
    if not math.isfinite(w_hh):
        raise ValueError(f"w_hh must be finite, got {w_hh!r}")
    model = _relu(dtype, float(up), float(down), float(w_hh), logit_margin)
    return _tag(model, "mismatched_relu", up=float(up), down=float(down), w_hh=float(w_hh),
                logit_margin=logit_margin)
