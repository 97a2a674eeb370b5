"""A training run's initial weights: torch's default init, IRNN, or an exact construction,
optionally with the LSTM forget-gate bias set.

    initial_model(config) -> CounterRNN     (config: a `counting.training.TrainConfig`)
    check_init_options(cell, hidden_size, init, init_noise, forget_bias)   raises ValueError

Every run starts from `counting.models.init_model(cell, hidden_size, seed, dtype)` (torch's
default init drawn from the init seed), then:

- init "torch" (default): that model unchanged.
- init "irnn" (Le et al. 2015; ReLU only): the recurrence is the identity (W_hh = 1 for
  hidden size 1, the identity matrix in general) and both bias vectors are 0; the input and
  readout weights keep torch's init from the same seed. LSTM and GRU are refused.
- init "construction" (LSTM and ReLU, hidden size 1): the exact counter's weights (those
  of `constructions.exact_counter(cell, dtype)`), plus Gaussian noise of std `init_noise`
  (default 0: the construction exactly) on every parameter. The noise is drawn in float64
  from numpy's PCG64 seeded with (init seed, 2) - a stream apart from the shuffle's
  (seed, 1) - in `model.parameters()` order, each tensor row-major, and then added in the
  model's dtype. GRU is refused (no GRU counts exactly).
- forget_bias B (LSTM only), applied last, after any init: the forget gate's biases become
  b_ih[f] = B and b_hh[f] = 0 for every hidden unit, so that their sum is B.

Layering: `counting` imports nothing above it (tests/test_layering.py), so the exact
counter's weights are written out here: the construction of `constructions.builders` with
its default margins (logit margin L = 5, gate margin 2), whose gate magnitudes S and G
(`constructions.gate_magnitudes`) come from torch's saturation thresholds. Typed in, they
are those of this project's torch; tests/test_training_options.py holds this init equal to
`constructions.exact_counter` bit for bit, in both dtypes.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from counting.models import CounterRNN, init_model

INITS = ("torch", "irnn", "construction")
NOISE_STREAM = 2  # numpy seed (init seed, 2): the construction's noise
LOGIT_MARGIN = 5.0  # constructions.builders.LOGIT_MARGIN
# (S, G) = constructions.gate_magnitudes(dtype): ceil(2 * the sigmoid / tanh saturation
# threshold over every kernel of torch), the LSTM's saturated gate and candidate
GATE_MAGNITUDES = {torch.float64: (74.0, 39.0), torch.float32: (35.0, 19.0)}


def check_init_options(cell: str, hidden_size: int, init: str, init_noise: float | None,
                       forget_bias: float | None) -> None:
    """Raise ValueError (a one-line, actionable message) for an init that does not apply."""
    if init not in INITS:
        raise ValueError(f"--init must be one of {', '.join(INITS)}, got {init!r}")
    if init == "irnn" and cell != "relu":
        raise ValueError(f"--init irnn (identity recurrence) applies to the relu cell only, "
                         f"not {cell}")
    if init == "construction":
        if cell not in ("lstm", "relu"):
            raise ValueError(f"--init construction: there is no exact {cell} counter "
                             "(constructions.exact_counter builds lstm and relu only)")
        if hidden_size != 1:
            raise ValueError(f"--init construction needs hidden size 1, got {hidden_size}")
    if init_noise is not None:
        if init != "construction":
            raise ValueError("--init-noise applies only with --init construction")
        if not (math.isfinite(init_noise) and init_noise >= 0):
            raise ValueError(f"--init-noise must be a finite number >= 0, got {init_noise!r}")
    if forget_bias is not None:
        if cell != "lstm":
            raise ValueError(f"--forget-bias applies to the lstm cell only, not {cell}")
        if not math.isfinite(forget_bias):
            raise ValueError(f"--forget-bias must be a finite number, got {forget_bias!r}")


def initial_model(config) -> CounterRNN:
    """The initial model of a run with `config` (fields cell, hidden_size, seed, dtype,
    init, init_noise, forget_bias), as the module docstring describes."""
    check_init_options(config.cell, config.hidden_size, config.init, config.init_noise,
                       config.forget_bias)
    model = init_model(config.cell, config.hidden_size, config.seed, config.dtype)
    if config.init == "irnn":
        irnn_(model)
    elif config.init == "construction":
        _construction(model, config.seed, config.init_noise or 0.0)
    if config.forget_bias is not None:
        set_forget_bias_(model, config.forget_bias)
    return model


def irnn_(model: CounterRNN) -> CounterRNN:
    """In place: W_hh = identity (H, H), b_ih = b_hh = 0; the other weights untouched."""
    H = model.hidden_size
    with torch.no_grad():
        model.rnn.weight_hh_l0.copy_(torch.eye(H, dtype=model.dtype))
        model.rnn.bias_ih_l0.zero_()
        model.rnn.bias_hh_l0.zero_()
    return model


def set_forget_bias_(model: CounterRNN, value: float) -> CounterRNN:
    """In place, LSTM: forget-gate biases b_ih[H:2H] = value, b_hh[H:2H] = 0 (gates i f g o)."""
    if model.cell != "lstm":
        raise ValueError(f"the forget-gate bias exists in the lstm cell only, not {model.cell}")
    H = model.hidden_size
    with torch.no_grad():
        model.rnn.bias_ih_l0[H : 2 * H] = value
        model.rnn.bias_hh_l0[H : 2 * H] = 0.0
    return model


def _exact_values(cell: str, dtype: torch.dtype) -> dict:
    """{state_dict name: nested list}: the exact hidden-size-1 counter of
    `constructions.exact_counter(cell, dtype)` (module docstring)."""
    L = LOGIT_MARGIN
    if cell == "relu":  # h' = relu(h + [1, -1] x) = depth
        return {"rnn.weight_ih_l0": [[1.0, -1.0]], "rnn.weight_hh_l0": [[1.0]],
                "rnn.bias_ih_l0": [0.0], "rnn.bias_hh_l0": [0.0],
                "readout.weight": [[0.0], [2.0 * L]], "readout.bias": [L, -L]}
    if cell == "lstm":  # i = f = o = 1, g = +-1: c' = c + g = depth
        S, G = GATE_MAGNITUDES[dtype]
        return {"rnn.weight_ih_l0": [[0.0, 0.0], [0.0, 0.0], [G, -G], [0.0, 0.0]],
                "rnn.weight_hh_l0": [[0.0]] * 4,
                "rnn.bias_ih_l0": [S, S, 0.0, S], "rnn.bias_hh_l0": [0.0] * 4,
                "readout.weight": [[0.0], [L / math.tanh(0.5)]], "readout.bias": [L, -L]}
    raise ValueError(f"there is no exact {cell} counter (lstm and relu only)")


def _construction(model: CounterRNN, seed: int, noise: float) -> CounterRNN:
    """In place: the exact counter's weights (model's cell and dtype) + N(0, noise^2) each."""
    state = model.state_dict()
    with torch.no_grad():
        for name, value in _exact_values(model.cell, model.dtype).items():
            state[name].copy_(torch.tensor(value, dtype=torch.float64).to(model.dtype))
    if noise > 0:
        rng = np.random.default_rng([int(seed), NOISE_STREAM])
        with torch.no_grad():
            for p in model.parameters():
                draw = rng.standard_normal(tuple(p.shape)) * noise
                p.add_(torch.as_tensor(draw).to(p.dtype))
    return model
