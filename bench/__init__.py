"""``make bench``: one benchmark session comparing parity-edge with plain TensorFlow."""
