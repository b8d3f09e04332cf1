"""Model evaluation: metrics, the paired bootstrap, calibration, and the demo truth."""
