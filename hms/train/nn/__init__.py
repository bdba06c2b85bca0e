"""The neural family: the `nn` block, the one training loop, inputs and devices. Models:
hms/models/efficientnet.py, resnet.py, wave.py (each a net + `nn_spec`)."""
