"""One module per table/figure of the paper, each runnable alone on a results directory
(`python -m paper_figs.fig3 DIR`) and all driven by `counting reproduce`."""
