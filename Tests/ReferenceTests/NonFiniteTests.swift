import BYOLModel
import NumPyIO
import Reference
import Testing

/// NaN travels through the reference as it does through PyTorch: a broken input must
/// show up in the outputs, never be silenced into a finite number.
@Suite struct NonFinitePropagation {
    @Test func reluKeepsNaN() {
        let y = ReLU.forward(Tensor(shape: [4], data: [.nan, -1, 2, -0.0]))
        #expect(y.data[0].isNaN)
        #expect(Array(y.data[1...]) == [0, 2, 0])
    }

    @Test func referenceEngineReluKeepsNaN() {
        let r = ReferenceEngine().relu(x: NDArray(float64: [.nan, 3], shape: [2]), dy: NDArray(float64: [1, 1], shape: [2]))
        #expect(r["y"]!.doubles[0].isNaN && r["y"]!.doubles[1] == 3)
        // The derivative where the input is NaN is 0, as in PyTorch (grad * (y > 0)).
        #expect(r["dx"]!.doubles == [0, 1])
    }
}
