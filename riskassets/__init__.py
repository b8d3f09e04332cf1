"""riskassets: AML alert risk scoring on Dagster."""

import os

# XGBoost's OpenMP threads wait for each other by spinning (libgomp's default), so any other
# load on the machine — another step of the multiprocess executor, the warehouse engine, a
# second run — slows every fit many times over (measured at load 5: one early-stopping fit
# 10.8 s spinning, 0.34 s passive). libgomp reads the policy once, when XGBoost loads it;
# every process of the package imports this module first. An explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
