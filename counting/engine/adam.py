"""Adam, bit for bit as torch's CPU single-tensor Adam (`foreach=False`, default betas/eps).

torch.optim.adam._single_tensor_adam, per parameter element, with step count s (the fused
multiply-adds are what torch's CPU kernels compute; tests check the bits against torch):
    m = lerp(m, g, 1 - beta1)              # torch's CPU lerp: fma(w, g - m, m) for w < 0.5
    v = fma((1 - beta2) * g, g, v * beta2) # mul_, then addcmul_ (fused as well)
    step_size = lr / (1 - beta1 ** s)
    denom = sqrt(v) / (1 - beta2 ** s) ** 0.5 + eps
    p = p + ((-step_size) * m) / denom     # addcdiv_ with value=-step_size
The moments m and v come out bit for bit equal to torch's. The parameters agree to a few
ulps, not always bitwise: sqrt here is IEEE's (correctly rounded), while torch's CPU sqrt
goes through MKL's vdSqrt, 1 ulp off on about 1% of inputs.
"""

from __future__ import annotations

import math

from counting.engine.intrinsics import fma
from counting.engine.jit import inline

BETA1 = 0.9
BETA2 = 0.999
EPS = 1e-8
W1 = 1.0 - BETA1  # the Python float torch passes as lerp's weight
W2 = 1.0 - BETA2


@inline
def adam_step(p, grad, m, v, n, step, lr):
    """Update the first n entries of p (P,) in place; `step` is the count after this step."""
    bias_correction1 = 1.0 - BETA1**step
    bias_correction2 = 1.0 - BETA2**step
    neg_step_size = -(lr / bias_correction1)
    bias_correction2_sqrt = bias_correction2**0.5
    for i in range(n):
        g = grad[i]
        m[i] = fma(W1, g - m[i], m[i])
        v[i] = fma(W2 * g, g, v[i] * BETA2)
        denom = math.sqrt(v[i]) / bias_correction2_sqrt + EPS
        p[i] = p[i] + neg_step_size * m[i] / denom
