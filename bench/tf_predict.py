"""The job ``python -m runtime.predict`` does, done the way a TensorFlow user would.

Reads a file of 50-bit lines with numpy, runs Keras ``predict`` on the trained model and
writes ``<count>\\t<parity>`` lines. The benchmark's point of comparison; not part of the
product.

    python bench/tf_predict.py MODEL.keras BITS.txt OUT.txt
"""

import sys

import numpy as np


def main(model_path: str, bits_path: str, out_path: str) -> None:
    import keras

    model = keras.models.load_model(model_path, compile=False)
    n_bits = model.input_shape[1]
    raw = np.fromfile(bits_path, dtype=np.uint8)
    bits = raw.reshape(-1, n_bits + 1)[:, :n_bits] - ord("0")
    logits = model.predict(bits.astype(np.float32)[:, :, None], batch_size=4096, verbose=0)
    counts = logits.argmax(axis=1)
    with open(out_path, "w") as out:
        out.writelines(f"{c}\t{c % 2}\n" for c in counts)


if __name__ == "__main__":
    main(*sys.argv[1:4])
