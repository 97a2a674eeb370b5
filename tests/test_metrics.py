import numpy as np
import pytest
import torch

from counting.dyck import targets
from counting.metrics import (
    evaluate,
    first_point_of_failure,
    sequence_loss,
    summarize_fpf,
    token_correct,
)
from counting.models import CounterRNN


def test_first_point_of_failure_by_hand():
    assert first_point_of_failure([True, True, False, True]) == 2
    assert first_point_of_failure([False]) == 0
    assert first_point_of_failure([True, True]) == 2
    assert first_point_of_failure([]) == 0


def test_token_correct_thresholds_both_outputs():
    t = targets("(())")  # [[1,1],[1,1],[1,1],[1,0]]
    p = np.array([[0.9, 0.9], [0.9, 0.4], [0.51, 0.6], [0.7, 0.2]])
    assert token_correct(p, t).tolist() == [True, False, True, True]
    p[0, 0] = 0.5  # exactly 0.5 is class 0
    assert token_correct(p, t).tolist()[0] is False


def test_summary_on_hand_made_fpfs():
    s = summarize_fpf([4, 2, 6, 0], [4, 6, 6, 2])
    assert s == {"n": 4, "accuracy": 50.0, "fpf": 3.0, "fully_right": 2}


def test_sequence_loss_matches_torch():
    rng = np.random.default_rng(0)
    p, t = rng.uniform(0.01, 0.99, (7, 2)), targets("((()))()"[:7] + "(")[:7]
    pt, tt = torch.as_tensor(p), torch.as_tensor(t)
    assert sequence_loss(p, t, "mse") == pytest.approx(torch.nn.MSELoss()(pt, tt).item(), abs=1e-15)
    assert sequence_loss(p, t, "bce") == pytest.approx(torch.nn.BCELoss()(pt, tt).item(), abs=1e-14)


def test_evaluate_a_model_with_known_answers():
    # A ReLU "counter" built by hand: h = depth, readout ')' iff h > 0.5, '(' always.
    m = CounterRNN("relu", 1, torch.float64)
    with torch.no_grad():
        m.rnn.weight_ih_l0[:] = torch.tensor([[1.0, -1.0]])
        m.rnn.weight_hh_l0[:] = 1.0
        m.rnn.bias_ih_l0[:] = 0.0
        m.rnn.bias_hh_l0[:] = 0.0
        m.readout.weight[:] = torch.tensor([[0.0], [20.0]])
        m.readout.bias[:] = torch.tensor([10.0, -10.0])
    seqs = ["(())", "()()((()))"]
    r = evaluate(m, seqs)
    assert (r["accuracy"], r["fpf"], r["fully_right"], r["fpfs"]) == (100.0, 7.0, 2, [4, 10])
    with torch.no_grad():  # decrement too small: the counter never returns to zero
        m.rnn.weight_ih_l0[:] = torch.tensor([[1.0, -0.9]])
    r = evaluate(m, seqs)
    # "(())": depths 1 2 1 0 -> counter 1, 2, 1.1, 0.2 -> ok (0.2 < 0.5); "()()((()))": the
    # counter drifts by +0.1 per pair: 0.1, 1.1, 0.2, ... fails where it should be 0 but is > 0.5
    counter, fp = 0.0, None
    for i, ch in enumerate("()()((()))"):
        counter = max(counter + (1.0 if ch == "(" else -0.9), 0.0)
        depth = "()()((()))"[: i + 1].count("(") * 2 - (i + 1)
        if (counter > 0.5) != (depth > 0) and fp is None:
            fp = i
    assert r["fpfs"] == [4, fp if fp is not None else 10]
