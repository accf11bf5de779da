"""The proof that a Keras Elman ReLU counter counts every string of its window right.

The proof itself lives in ``runtime.proof`` (numpy only), so the runtime proves the
weights inside an artifact file with the very code that proves the Keras model here:
if every unit's pre-activation keeps one sign for every input, the logits are an affine
map of the bits, ``z = x @ A + c``, and all ``2**n_bits`` strings are decided pair by pair
in milliseconds, float32 round-off included. This module takes the weights out of a Keras
model (``layer_weights``) and prints the outcome.

``certify(model)`` returns a ``Certificate``; ``python -m train.certify [MODEL]`` prints it.
Exit status: 0 proved; 1 not proved (the reason is printed); 2 the model cannot be read.
"""

from __future__ import annotations

from runtime.proof import UNIT_ROUNDOFF, Certificate, certify_recurrent

__all__ = ["UNIT_ROUNDOFF", "Certificate", "certify", "certify_weights", "layer_weights", "main"]


def layer_weights(model):
    """(input kernel, recurrent kernel, bias or None, Dense kernel, Dense bias), or a reason."""
    layer = model.get_layer("rnn")
    if type(layer).__name__ != "SimpleRNN":
        return f"the proof covers the Elman (SimpleRNN) cell, not {type(layer).__name__}"
    if layer.activation.__name__ != "relu":
        return f"the proof covers ReLU, not {layer.activation.__name__}"
    weights = layer.get_weights()
    bias = weights[2] if len(weights) == 3 else None
    kernel, dense_bias = model.get_layer("logits").get_weights()
    return weights[0], weights[1], bias, kernel, dense_bias


def certify(model) -> Certificate:
    """Try to prove ``model`` (a Keras count-the-ones model) exact on its whole window."""
    found = layer_weights(model)
    if isinstance(found, str):
        return Certificate(applicable=False, proved=False, reason=found)
    return certify_weights(*found)


def certify_weights(kernel, recurrent, bias, dense_kernel, dense_bias) -> Certificate:
    """The proof on raw float32 weights: ``h_t = relu(x_t * kernel + h_{t-1} @ recurrent +
    bias)`` over ``n_bits = n_classes - 1`` steps from ``h_0 = 0``, then
    ``logits = h @ dense_kernel + dense_bias`` (``runtime.proof.certify_recurrent``)."""
    return certify_recurrent(kernel, recurrent, bias, dense_kernel, dense_bias)


def main(argv: list[str] | None = None) -> int:
    from runtime.cli.args import OneLineParser

    parser = OneLineParser(
        prog="python -m train.certify",
        description="Prove (or fail to prove) that a saved count-the-ones model counts every "
                    "string of its window right, float32 round-off included.",
        epilog="exit status: 0 proved; 1 not proved; 2 the model cannot be read")
    parser.add_argument("model_path", nargs="?", default="artifacts/model.keras",
                        help="saved Keras model (default: %(default)s)")
    args = parser.parse_args(argv)
    from train.evaluate import check_model_path, load_saved_model

    check_model_path("train.certify", args.model_path)
    model = load_saved_model(args.model_path)
    if model is None:
        return 2
    certificate = certify(model)
    print(f"{args.model_path}: {certificate.line()}")
    if certificate.proved:
        print(f"worst pair: strings with {certificate.worst[0]} ones against {certificate.worst[1]}; "
              f"slack {certificate.slack:.4f}; {certificate.seconds * 1e3:.0f} ms")
    return 0 if certificate.proved else 1


if __name__ == "__main__":
    import sys

    from runtime.cli.args import run_main

    sys.exit(run_main("train.certify", main))
