"""The fast training engine: numba kernels for LSTM, ReLU-RNN and GRU models of hidden size
1 to 8 (`layout.supports`).

Everything is float64 and follows torch's CPU arithmetic (operation order, Adam, losses),
so the engine reproduces the reference trainer (`counting.training.ReferenceBackend`) to
rounding - tested to 1e-12 on gradients and on parameters after 100 Adam steps (hidden
size 1; H > 1: sums over units in another order than MKL's, 1e-12 and 1e-10 tested).

    layout      flat parameter vectors <-> CounterRNN; which configurations are supported
    lstm, relu, gru   a cell's forward step, and one word's forward + BPTT (hidden size 1)
    lstm_h, relu_h, gru_h   one word's forward + BPTT at hidden size H > 1
    multicell   the H > 1 kernels' shared work arrays, readout and weight-gradient passes
    mathfn, losses    sigmoid/tanh; MSE/BCE terms and the readout's gradient
    adam        torch's single-tensor Adam
    update      training options between BPTT and Adam: batch mean, L1, clipping, weight decay
    intrinsics  fused multiply-add and an atomic counter (LLVM)
    train       one model's epoch (online, or with the run's training options)
    words       word sets as token arrays; EvalSet (sorted, for prefix sharing)
    evaluate    per-word losses and FPF for whole sets (hidden size 1, a model per lane)
    evaluate_h  the same for H > 1 (a model at a time, its gates vectorized)
    many        many models in parallel (ModelBank, JointSet)
    backend     FastBackend for `counting.training.run_training`
    runs        many training runs at once, writing run_training's files (for sweeps)
    api         evaluate_many
    threads     numba threading layer (workqueue) and thread count
    (numba decorators, intrinsics, the cache directory and warm-ups: counting.jit)

Public: FastBackend, evaluate_many, supports, set_jobs.
"""

from counting.engine.threads import configure as _configure

_configure()

from counting.engine.api import evaluate_many  # noqa: E402
from counting.engine.backend import FastBackend  # noqa: E402
from counting.engine.layout import supports  # noqa: E402
from counting.engine.threads import set_jobs  # noqa: E402

__all__ = ["FastBackend", "evaluate_many", "supports", "set_jobs"]
