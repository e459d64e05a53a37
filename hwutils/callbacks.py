"""Keras callbacks for what the report records during training: progress, divergence, weight
snapshots, gradient norms, a training-loss target. Used as a Keras user expects:
`model.fit(..., callbacks=[WeightSnapshots(every=3), GradientNorm(x, y)])`."""
from __future__ import annotations
