"""Qt widgets and windows; pages never import torch (enforced by import-linter)."""
