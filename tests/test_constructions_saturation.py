"""Saturation thresholds of torch's sigmoid/tanh kernels, checked by routes independent of the
bisection, and the constructions' gates saturated inside the real nn.LSTM / nn.GRU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import constructions
from constructions.saturation import KERNELS, kernel_values, saturation_table

DTYPES = [torch.float32, torch.float64]


def below(x: float, dtype) -> float:
    """The float of `dtype` just below x."""
    t = torch.tensor(x, dtype=dtype)
    return torch.nextafter(t, torch.tensor(-np.inf, dtype=dtype)).item()


@torch.no_grad()
def lstm_forget_gate(x: np.ndarray, dtype) -> np.ndarray:
    """f = sigma(x) read off nn.LSTM through a route kernel_values does not use: c0 = 1,
    g = tanh(0) = 0 so i g = 0 exactly, c1 = f c0 = f."""
    layer = nn.LSTM(2, 1, batch_first=True).to(dtype)
    for p in layer.parameters():
        p.zero_()
    layer.weight_ih_l0[1, 1] = 1.0  # f reads input 1
    B = x.size
    inp = torch.zeros(B, 1, 2, dtype=dtype)
    inp[:, 0, 1] = torch.as_tensor(x, dtype=dtype)
    _, (_, c1) = layer(inp, (torch.zeros(1, B, 1, dtype=dtype), torch.ones(1, B, 1, dtype=dtype)))
    return c1.reshape(-1).double().numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", ["sigmoid", "tanh"])
def test_torch_threshold_is_the_first_float_giving_one(fn, dtype):
    t = constructions.saturation_threshold(fn, dtype, kernel="torch")
    f = torch.sigmoid if fn == "sigmoid" else torch.tanh
    for n in (1, 17, 1000):  # scalar loop, vector + tail, long vector
        assert torch.all(f(torch.full((n,), t, dtype=dtype)) == 1.0)
        assert torch.all(f(torch.full((n,), below(t, dtype), dtype=dtype)) < 1.0)
    if fn == "tanh":
        assert torch.all(torch.tanh(torch.full((17,), -t, dtype=dtype)) == -1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_threshold_matches_an_independent_lstm_route(dtype):
    t = constructions.saturation_threshold("sigmoid", dtype, kernel="lstm")
    assert np.all(lstm_forget_gate(np.full(17, t), dtype) == 1.0)
    assert np.all(lstm_forget_gate(np.full(17, below(t, dtype)), dtype) < 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", ["sigmoid", "tanh"])
def test_all_is_the_largest_kernel_threshold(fn, dtype):
    ts = [constructions.saturation_threshold(fn, dtype, k) for k in KERNELS]
    assert constructions.saturation_threshold(fn, dtype) == max(ts)
    assert constructions.saturation_threshold(fn, dtype, "all") == max(ts)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernels_disagree_only_where_the_thresholds_say(dtype):
    """Between the torch and the LSTM threshold torch.sigmoid is 1.0 but the LSTM gate is
    not (an empty range if the kernels agree, as they do in float64 on this machine)."""
    t_torch = constructions.saturation_threshold("sigmoid", dtype, "torch")
    t_lstm = constructions.saturation_threshold("sigmoid", dtype, "lstm")
    xs = np.linspace(min(t_torch, t_lstm) - 1, max(t_torch, t_lstm) + 1, 2001)
    xs = torch.as_tensor(xs).to(dtype).double().numpy()
    ones_torch = kernel_values("sigmoid", xs, dtype, "torch") == 1.0
    ones_lstm = lstm_forget_gate(xs, dtype) == 1.0
    assert np.array_equal(ones_torch, xs >= t_torch)
    assert np.array_equal(ones_lstm, xs >= t_lstm)


def test_kernel_values_torch_is_torch():
    x = np.linspace(-40, 40, 1001)
    for dtype in DTYPES:
        xt = torch.as_tensor(x).to(dtype)
        assert np.array_equal(kernel_values("sigmoid", x, dtype, "torch"),
                              torch.sigmoid(xt).double().numpy())
        assert np.array_equal(kernel_values("tanh", x, dtype, "torch"),
                              torch.tanh(xt).double().numpy())


def test_lstm_kernel_values_are_the_gates_a_lstm_computes():
    """kernel_values(.., 'lstm') against the independent forget-gate route (all x)."""
    x = np.linspace(-40, 40, 4001)
    for dtype in DTYPES:
        xs = torch.as_tensor(x).to(dtype).double().numpy()
        assert np.array_equal(kernel_values("sigmoid", xs, dtype, "lstm"),
                              lstm_forget_gate(xs, dtype))


def test_bad_arguments():
    with pytest.raises(ValueError, match="fn must be"):
        constructions.saturation_threshold("relu", torch.float32)
    with pytest.raises(ValueError, match="kernel must be"):
        constructions.saturation_threshold("tanh", torch.float32, kernel="cuda")
    with pytest.raises(ValueError, match="dtype"):
        constructions.saturation_threshold("tanh", "float16")
    with pytest.raises(ValueError, match="one kernel"):
        kernel_values("tanh", [0.0], torch.float32, "all")


def test_saturation_table_is_complete():
    table = saturation_table()
    assert set(table) == {"float32", "float64"}
    for per_fn in table.values():
        for per_kernel in per_fn.values():
            assert per_kernel["all"] == max(per_kernel[k] for k in KERNELS)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gate_magnitudes_clear_every_threshold(dtype):
    S, G = constructions.gate_magnitudes(dtype)
    assert S >= 2 * constructions.saturation_threshold("sigmoid", dtype)
    assert G >= 2 * constructions.saturation_threshold("tanh", dtype)
    assert S == int(S) and G == int(G)
    with pytest.raises(ValueError, match="gate_margin"):
        constructions.gate_magnitudes(dtype, 0.5)


@pytest.mark.parametrize("dtype", DTYPES)
@torch.no_grad()
def test_exact_lstm_steps_are_exactly_one_inside_nn_lstm(dtype):
    """c after '(' from c0 = 0 is i g = 1.0; after ')' it is -1.0; from c0 = 7, f c0 + i g is
    exactly 8.0 and 6.0: i = f = 1.0 and g = +-1.0 in the LSTM's own kernels."""
    model = constructions.exact_counter("lstm", dtype)
    x = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]] * 2, dtype=dtype)
    c0 = torch.tensor([0.0, 0.0, 7.0, 7.0], dtype=dtype).reshape(1, 4, 1)
    _, (h1, c1) = model.rnn(x, (torch.zeros_like(c0), c0))
    assert c1.reshape(-1).tolist() == [1.0, -1.0, 8.0, 6.0]
    # o = 1.0 exactly: h = tanh(c) as the LSTM kernel computes it
    th = kernel_values("tanh", [1.0, -1.0, 8.0, 6.0], dtype, "lstm")
    assert np.array_equal(h1.reshape(-1).double().numpy(), th)
