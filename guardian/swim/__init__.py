"""The swimmer detector: people in water, for cameras that watch a pool."""
