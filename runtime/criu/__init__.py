"""Checkpoint and restore with CRIU: criu's command lines and the files beside
the images (checkpoint), what a restore trusts of a checkpoint directory
(checkpoint_trust). Standard library only; the daemon drives it
(runtime.daemon.checkpoint_ops), lxc-checkpoint asks it whether criu is usable.
"""
