"""Alignment Studio: align a small local language model with your own preferences."""
