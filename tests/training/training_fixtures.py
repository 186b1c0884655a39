"""Shared inputs of the training tests: a tiny phantom config that trains in seconds."""

TINY = """
data: {phantoms: {n: 3, seed: 0, size_xyz: [32, 32, 16]}, val_fraction: 0.34}
preprocessing: {spacing_mm: null, crop: none}
model: {name: dsn3d, options: {widths: [4, 4, 4, 4, 4]}}
loss: {name: ce, deep_supervision: dsn2016}
optimiser: {name: sgd, lr: 0.01}
schedule: {name: step, step_epochs: 1, step_gamma: 0.5}
augmentation: {rotate_prob: 0.5, elastic_prob: 0.0}
training: {epochs: 2, patches_per_epoch: 4, batch_size: 2, patch_voxels_xyz: [16, 16, 8], threads: 1}
validation: {mode: sliding, overlap: 0.25}
"""
