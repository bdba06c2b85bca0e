"""Training: the one cross-validation driver (crossval.py), its fold cache, the loss, and the two families (gbdt, nn)."""
