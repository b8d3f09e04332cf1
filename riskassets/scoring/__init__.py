"""Daily scoring with promoted models, and drift against the training reference."""
