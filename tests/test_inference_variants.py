"""benchmarks/inference_variants.py: the other ways of running a model do what they say."""
import torch

from benchmarks.inference_variants import Variant
from tests.helpers import tiny_model


def test_variants_are_the_model_its_gain_powered_and_run_again():
    model = tiny_model()
    audio = torch.randn(1, 2, 8192) * 0.1
    gain, output = model(audio)
    torch.testing.assert_close(Variant(model)(audio)[1], output)
    torch.testing.assert_close(Variant(model, power=2.0)(audio)[1], audio * gain ** 2)
    again = output * model(output)[0]
    torch.testing.assert_close(Variant(model, passes=2)(audio)[1], again)
    assert not torch.allclose(again, output, atol=1e-4)  # a second pass changes the output


def test_windows_normalise_on_their_own_statistics():
    model = tiny_model()
    audio = torch.randn(1, 2, 44100) * torch.linspace(0.01, 0.5, 44100)  # loud at the end
    output = model(audio)[1]
    # a window longer than the item: one window, its own statistics are the item's
    torch.testing.assert_close(Variant(model, windows=2.0)(audio)[1], output,
                               atol=1e-5, rtol=1e-4)
    # 0.25-s windows normalise the quiet start apart from the loud end: the gain differs
    short = Variant(model, windows=0.25)(audio)[1]
    assert short.shape == output.shape
    assert not torch.allclose(short, output, atol=1e-4)
