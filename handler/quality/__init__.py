"""How good an encoding looks and how to find the lowest quality that looks the same: SSIMULACRA2, the model's
features, the numpy-only model, the verified search."""
