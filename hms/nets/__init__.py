"""Torch building blocks shared by the neural base models (the models themselves are hms/models/*)."""
