import numpy as np
import pytest
import torch

from counting.dyck import one_hot
from counting.generators import uniform_word
from counting.models import CounterRNN, init_model, pad_batch


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def unrolled(model: CounterRNN, seq: str) -> np.ndarray:
    """The cell equations written out by hand (PyTorch's documented formulas), float64."""
    sd = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    W, U = sd["rnn.weight_ih_l0"], sd["rnn.weight_hh_l0"]
    b, c_ = sd["rnn.bias_ih_l0"], sd["rnn.bias_hh_l0"]
    H = model.hidden_size
    h, c = np.zeros(H), np.zeros(H)
    outs = []
    for x in one_hot(seq):
        a_in, a_h = W @ x + b, U @ h + c_
        if model.cell == "lstm":
            pre = a_in + a_h
            i, f = sigmoid(pre[:H]), sigmoid(pre[H : 2 * H])
            g, o = np.tanh(pre[2 * H : 3 * H]), sigmoid(pre[3 * H :])
            c = f * c + i * g
            h = o * np.tanh(c)
        elif model.cell == "gru":
            r = sigmoid(a_in[:H] + a_h[:H])
            z = sigmoid(a_in[H : 2 * H] + a_h[H : 2 * H])
            n = np.tanh(a_in[2 * H :] + r * a_h[2 * H :])
            h = (1 - z) * n + z * h
        else:
            h = np.maximum(a_in + a_h, 0)
        outs.append(sigmoid(sd["readout.weight"] @ h + sd["readout.bias"]))
    return np.array(outs)


@pytest.mark.parametrize("cell", ["lstm", "relu", "gru"])
@pytest.mark.parametrize("hidden", [1, 3])
def test_module_equals_hand_unrolled_cell(cell, hidden):
    model = init_model(cell, hidden, seed=11, dtype=torch.float64)
    seq = uniform_word(np.random.default_rng(hidden), 60)
    got = model(torch.as_tensor(one_hot(seq))).detach().numpy()
    np.testing.assert_allclose(got, unrolled(model, seq), rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "relu", "gru"])
def test_padded_batch_gives_each_sequence_its_own_outputs(cell):
    model = init_model(cell, 1, seed=2, dtype=torch.float64)
    rng = np.random.default_rng(0)
    seqs = [uniform_word(rng, n) for n in (2, 10, 40)]
    x, lengths = pad_batch(seqs)
    batch = model(x).detach().numpy()
    for b, s in enumerate(seqs):
        alone = model(torch.as_tensor(one_hot(s))).detach().numpy()
        np.testing.assert_allclose(batch[b, : lengths[b]], alone, rtol=0, atol=1e-14)


def test_init_is_seeded_dtype_independent_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = init_model("lstm", 1, seed=5, dtype=torch.float32)
    after = torch.rand(1)
    assert torch.equal(before, after)
    b = init_model("lstm", 1, seed=5, dtype=torch.float64)
    c = init_model("lstm", 1, seed=6, dtype=torch.float32)
    for k, v in a.state_dict().items():
        assert torch.equal(v.double(), b.state_dict()[k])
        assert b.state_dict()[k].dtype == torch.float64
    assert not torch.equal(a.rnn.weight_ih_l0, c.rnn.weight_ih_l0)


def test_parameter_names_are_the_checkpoint_contract():
    names = set(CounterRNN("gru").state_dict())
    assert names == {
        "rnn.weight_ih_l0",
        "rnn.weight_hh_l0",
        "rnn.bias_ih_l0",
        "rnn.bias_hh_l0",
        "readout.weight",
        "readout.bias",
    }


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cell": "lstmx"}, "cell must be one of"),
        ({"cell": "lstm", "hidden_size": 0}, "hidden_size must be a positive int"),
        ({"cell": "lstm", "dtype": "float16"}, "dtype must be"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CounterRNN(**kwargs)


def test_wrong_input_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expected input of shape \(B, T, 2\)"):
        CounterRNN("relu")(torch.zeros(1, 5, 3))
