"""Backends: run what the pipeline produced (numpy reference; C and CUDA later)."""
