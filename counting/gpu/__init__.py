"""The GPU path: seed sweeps of thousands of hidden-size-1 models on one CUDA GPU (numba).

    device      numba.cuda access (simulator or GPU), the numpy.row_stack patch, block sizes
    params      flat parameter layout, fast exact init of many seeds
    shuffle     every run's per-epoch shuffle orders, bit-exact with training.shuffle_orders
    numerics    typed constants per float type (no float64 literals in float32 kernels)
    cells       per-thread LSTM / ReLU / GRU forward, loss, BPTT
    kernels     the training-epoch and evaluation kernels
    batch       ModelBatch: M models of one cell on the device
    verdict     failure classes and a run's verdict
    backend     CudaBackend for counting.training.run_training
    sweep       gpu_sweep and `counting sweep --device cuda` (run_cli)

Importing this package does not import numba.cuda; `counting.gpu.device.availability()`
tells whether the kernels can run (a GPU with numba-cuda, or NUMBA_ENABLE_CUDASIM=1).
"""
