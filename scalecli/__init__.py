"""scalecli: measure the scaling laws of GPT-2-style language models on your own data."""

__version__ = "0.1.0"
