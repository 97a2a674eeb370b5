"""The cells' steps (`counting.cells`, the one definition) over the engine's activations.

    LSTM_STEP, GRU_STEP        training: `mathfn.sigmoid` / `mathfn.tanh` (libm's exp)
    LSTM_LANE_STEP, GRU_LANE_STEP
                               evaluation lanes: `mathfn.vsigmoid` / `mathfn.vtanh`
    RELU_STEP                  max(a, 0), a NaN pre-activation giving 0 (the engine's relu;
                               torch keeps NaN)

Each is step(env, gh, gi, state) as `counting.cells.lstm.make_step` describes; env is
unused here (0). They are not cached on their own: they are inlined into the cached kernels
of lstm.py, gru.py and relu.py.
"""

from __future__ import annotations

from counting.cells import gru, lstm, relu
from counting.engine.jit import inline
from counting.engine.mathfn import sigmoid, tanh, vsigmoid, vtanh
from counting.jit import njit

_part = njit(inline="always", error_model="numpy")  # not cached: inlined into the kernels


@inline
def _sig(env, x):
    return sigmoid(x)


@inline
def _tanh(env, x):
    return tanh(x)


@inline
def _vsig(env, x):
    return vsigmoid(x)


@inline
def _vtanh(env, x):
    return vtanh(x)


@inline
def _relu(env, a):
    return a if a > 0.0 else 0.0


LSTM_STEP = _part(lstm.make_step(_sig, _tanh, jit=_part))
LSTM_LANE_STEP = _part(lstm.make_step(_vsig, _vtanh, jit=_part))
GRU_STEP = _part(gru.make_step(_sig, _tanh, jit=_part))
GRU_LANE_STEP = _part(gru.make_step(_vsig, _vtanh, jit=_part))
RELU_STEP = _part(relu.make_step(_relu))
