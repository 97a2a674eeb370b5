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
- init "construction" (LSTM and ReLU, hidden size 1): the exact counter
  `constructions.exact_counter(cell, dtype)`, plus Gaussian noise of std `init_noise`
  (default 0: the construction exactly) on every parameter. The noise is drawn in float64
  from numpy's PCG64 seeded with (init seed, 2) - a stream apart from the shuffle's
  (seed, 1) - in `model.parameters()` order, each tensor row-major, and then added in the
  model's dtype. GRU is refused (no GRU counts exactly).
- forget_bias B (LSTM only), applied last, after any init: the forget gate's biases become
  b_ih[f] = B and b_hh[f] = 0 for every hidden unit, so that their sum is B.

Layering: `counting` never imports `constructions` at module level (constructions imports
counting); `_construction` imports it inside the function, when that init is asked for.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from counting.models import CounterRNN, init_model

INITS = ("torch", "irnn", "construction")
NOISE_STREAM = 2  # numpy seed (init seed, 2): the construction's noise


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


def _construction(model: CounterRNN, seed: int, noise: float) -> CounterRNN:
    """In place: the exact counter's weights (model's cell and dtype) + N(0, noise^2) each."""
    from constructions import exact_counter  # lazy: constructions imports counting

    exact = exact_counter(model.cell, model.dtype)
    model.load_state_dict(exact.state_dict())
    if noise > 0:
        rng = np.random.default_rng([int(seed), NOISE_STREAM])
        with torch.no_grad():
            for p in model.parameters():
                draw = rng.standard_normal(tuple(p.shape)) * noise
                p.add_(torch.as_tensor(draw).to(p.dtype))
    return model
