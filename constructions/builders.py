"""Hand-built counters as ordinary `CounterRNN`s (same checkpoint format as trained models).

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

Hidden size H > 1 (`hidden_size=H` on every builder): the hidden-size-1 counter sits in unit
0 and units 1..H-1 are inert - every weight into and out of them is 0 (their rows of W_ih,
W_hh and the biases, their columns of W_hh and of the readout). From the zero state they stay
exactly 0: an LSTM unit with pre-activation 0 has i = f = o = sigmoid(0) = 0.5 and
g = tanh(0) = 0, so c' = 0.5 * 0 + 0.5 * 0 = 0 and h = 0.5 tanh(0) = 0; a GRU unit has
r = z = 0.5 and n = tanh(0 + 0.5 * 0) = 0, so h' = (0 - 0) * 0.5 + 0 = 0; a ReLU unit has
h' = max(0, 0) = 0. Unit 0's pre-activations gain only terms 0 * h_k = 0 and the readout
0 * h_k = 0, so unit 0 and the outputs are bit for bit those of the hidden-size-1 counter
(the float limits of `constructions.affine` are unchanged).

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


def _embed(model: CounterRNN, hidden_size: int) -> CounterRNN:
    """The hidden-size-1 `model` as unit 0 of a hidden_size-unit CounterRNN whose other units
    are inert (all their weights 0; module docstring). hidden_size 1 returns `model`."""
    _check_hidden_size(hidden_size)
    if hidden_size == 1:
        return model
    H = hidden_size
    big = CounterRNN(model.cell, H, model.dtype)
    small = model.state_dict()
    state = big.state_dict()
    with torch.no_grad():
        for t in state.values():
            t.zero_()
        G = small["rnn.weight_ih_l0"].shape[0]  # gates of the cell (unit 0 of each: row g*H)
        rows = torch.arange(G) * H
        state["rnn.weight_ih_l0"][rows] = small["rnn.weight_ih_l0"]
        state["rnn.weight_hh_l0"][rows, 0] = small["rnn.weight_hh_l0"][:, 0]
        state["rnn.bias_ih_l0"][rows] = small["rnn.bias_ih_l0"]
        state["rnn.bias_hh_l0"][rows] = small["rnn.bias_hh_l0"]
        state["readout.weight"][:, 0] = small["readout.weight"][:, 0]
        state["readout.bias"].copy_(small["readout.bias"])
    big.eval()
    return big


def _check_hidden_size(hidden_size) -> None:
    if isinstance(hidden_size, bool) or not isinstance(hidden_size, int) or hidden_size < 1:
        raise ValueError(f"hidden_size must be an int >= 1, got {hidden_size!r}")


def _tag(model: CounterRNN, name: str, **params) -> CounterRNN:
    """Record what was built (`model.construction`, written into checkpoint meta by the CLI)."""
    model.construction = {"construction": name, "cell": model.cell,
                          "dtype": dtype_name(model.dtype), **params}
    return model


def exact_counter(cell: str, dtype=torch.float64, *, logit_margin: float = LOGIT_MARGIN,
                  gate_margin: float = GATE_MARGIN, hidden_size: int = 1) -> CounterRNN:
    """An exact Dyck-1 counter: 'relu' (h_t = depth) or 'lstm' (c_t = depth, i = f = o = 1.0
    and g = +-1.0 exactly). The ')'-logit is L (depth/0.5 - 1) for ReLU; both outputs are right
    at every depth the dtype can count to (2^24 in float32, 2^53 in float64). With
    hidden_size H > 1 the counter is unit 0 and the other units are inert (module docstring).

    'gru' raises ValueError: no GRU counts exactly; see `leaky_counter('gru', eps)`.
    """
    dtype = resolve_dtype(dtype)
    _check_margin(logit_margin)
    _check_hidden_size(hidden_size)
    if cell == "gru":
        raise ValueError(
            "a GRU cannot count exactly (h' is a convex combination of h and a candidate in "
            "(-1, 1), so |h| < 1); use constructions.leaky_counter('gru', eps) for the best "
            "GRU counter"
        )
    if cell == "lstm":
        model = _embed(_lstm(dtype, None, logit_margin, gate_margin), hidden_size)
        return _tag(model, "exact", logit_margin=logit_margin, gate_margin=gate_margin)
    if cell == "relu":
        model = _embed(_relu(dtype, 1.0, 1.0, 1.0, logit_margin), hidden_size)
        return _tag(model, "exact", logit_margin=logit_margin)
    raise ValueError(f"cell must be 'lstm' or 'relu' for an exact counter, got {cell!r}")


def leaky_counter(cell: str, eps: float, dtype=torch.float64, *,
                  logit_margin: float = LOGIT_MARGIN,
                  gate_margin: float = GATE_MARGIN, hidden_size: int = 1) -> CounterRNN:
    """A counter that forgets a fraction eps per token (unit 0 of hidden_size; the rest inert).

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
    _check_hidden_size(hidden_size)
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
    return _tag(_embed(model, hidden_size), "leaky", eps=float(eps), logit_margin=logit_margin,
                gate_margin=gate_margin)


def mismatched_relu(up: float = 1.0, down: float = 1.0, w_hh: float = 1.0,
                    dtype=torch.float64, *, logit_margin: float = LOGIT_MARGIN,
                    hidden_size: int = 1) -> CounterRNN:
    """A ReLU counter h' = relu(w_hh h + up) on '(' and relu(w_hh h - down) on ')', read out
    with threshold up / 2. up = down = w_hh = 1 is `exact_counter('relu')`. Unit 0 of
    hidden_size units; the rest are inert.

    Raises ValueError unless up > 0, down > 0 and w_hh is finite.
    """
    dtype = resolve_dtype(dtype)
    _check_margin(logit_margin)
    for name, v in (("up", up), ("down", down)):
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive number, got {v!r}")
    if not math.isfinite(w_hh):
        raise ValueError(f"w_hh must be finite, got {w_hh!r}")
    _check_hidden_size(hidden_size)
    model = _embed(_relu(dtype, float(up), float(down), float(w_hh), logit_margin), hidden_size)
    return _tag(model, "mismatched_relu", up=float(up), down=float(down), w_hh=float(w_hh),
                logit_margin=logit_margin)
