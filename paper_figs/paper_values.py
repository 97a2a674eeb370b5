"""The numbers published in the paper (Tables 1 and 2), for side-by-side comparison."""

# Table 1: mean (min, max) over 10 models; accuracy in % of sequences; very-long = mean FPF.
# None as a maximum FPF means the best model did not fail on any very-long sequence.
TABLE1 = {
    "lstm": {
        "train": (100, 100, 100),
        "validation": (100, 100, 100),
        "long": (100, 99.8, 100),
        "very_long_fpf": (916.8, 802.4, 946.4),
    },
    "relu": {
        "train": (97.9, 90.9, 100),
        "validation": (97.5, 89.3, 100),
        "long": (74.2, 33.5, 100),
        "very_long_fpf": (871.7, 543.1, None),
    },
    "gru": {
        "train": (100, 100, 100),
        "validation": (100, 100, 100),
        "long": (92.5, 90.72, 95.6),
        "very_long_fpf": (472.5, 434.7, 545.2),
    },
}

# Table 2: (R^2, p) of linregress(-log(loss on set), very-long FPF) over 60 models per cell.
TABLE2 = {
    "lstm": {
        "train": (0.434, 1.06e-8),
        "validation": (0.511, 1.412e-10),
        "long": (0.593, 6.36e-13),
    },
    "relu": {"train": (0.002, 0.75), "validation": (0.094, 0.017), "long": (0.201, 0.0003)},
    "gru": {"train": (0.363, 3.55e-7), "validation": (0.218, 0.00017), "long": (0.075, 0.035)},
}

# Section 5: where each cell's models mostly fail on zigzag j = 500 (our failure classes).
FAILURE_MODES = {
    "lstm": (
        "early",
        "mostly a short distance before position 1000: decrements larger than increments",
    ),
    "relu": (
        "at-zero",
        "mostly at position 1000: decrements smaller than increments; some fail "
        "before, independent of depth",
    ),
    "gru": (
        "depth-dependent",
        "soon after the closing run starts: decrements large when the counter is large",
    ),
}

CELLS = ("lstm", "relu", "gru")
