import Reference
import Testing

/// Forward values computed by hand, independent of the code under test.
@Suite struct LayerValues {
    @Test func convolutionWithPaddingAndStride() {
        // 1x1x3x3 input 1..9, 3x3 kernel of ones, pad 1: each output sums a neighbourhood.
        let x = Tensor(shape: [1, 1, 3, 3], data: (1...9).map(Double.init))
        let w = Tensor(shape: [1, 1, 3, 3], data: [Double](repeating: 1, count: 9))
        #expect(Conv2d.forward(x, w, stride: 1, pad: 1).data == [12, 21, 16, 27, 45, 33, 24, 39, 28])
        #expect(Conv2d.forward(x, w, stride: 2, pad: 1).data == [12, 16, 24, 28])
        // 1x1 kernel, two output channels: scaled copies.
        let w1 = Tensor(shape: [2, 1, 1, 1], data: [2, -1])
        #expect(Conv2d.forward(x, w1, stride: 2, pad: 0).data == [2, 6, 14, 18, -1, -3, -7, -9])
    }

    @Test func batchNormTrainAndRunningStats() {
        // One channel, values 1, 2, 3, 4: mean 2.5, biased var 1.25, unbiased 5/3.
        let x = Tensor(shape: [2, 1, 2, 1], data: [1, 2, 3, 4])
        let running = BatchNorm.Running(mean: [0], variance: [1], batches: 0)
        let (y, _, next) = BatchNorm.forwardTrain(x, gamma: [2], beta: [1], running: running)
        let inv = 1 / (1.25 + 1e-5).squareRoot()
        for (i, v) in [1.0, 2, 3, 4].enumerated() {
            // 1e-15: mean, variance, sqrt and scale in the layer's order, outputs up to 3.7 (ulp 4.4e-16): ~2 ulps (exact here).
            #expect(abs(y.data[i] - (2 * (v - 2.5) * inv + 1)) < 1e-15)
        }
        // 1e-16: 0.9 * 0 + 0.1 * 2.5 with 0.1 rounded in binary: under 2 ulps of 0.25 (5.6e-17 each; exact here).
        #expect(abs(next.mean[0] - 0.25) < 1e-16)
        // 1e-15: 0.9 + 0.1 * 5 / 3 ~ 1.07 evaluated in another order by the layer: a few ulps (2.2e-16 each; exact here).
        #expect(abs(next.variance[0] - (0.9 + 0.1 * 5 / 3)) < 1e-15)
        #expect(next.batches == 1)
        let e = BatchNorm.forwardEval(x, gamma: [2], beta: [1], running: next)
        // 1e-15: the eval formula on an output of ~2.45 (ulp 4.4e-16), in the layer's order: ~2 ulps (exact here).
        #expect(abs(e.data[0] - (2 * (1 - 0.25) / (next.variance[0] + 1e-5).squareRoot() + 1)) < 1e-15)
    }

    @Test func linearReluPoolAndLoss() {
        let x = Tensor(shape: [1, 2], data: [1, 2])
        let w = Tensor(shape: [2, 2], data: [1, -1, 0.5, 2])
        #expect(Linear.forward(x, w, [10, 0]).data == [9, 4.5])
        #expect(ReLU.forward(Tensor(shape: [3], data: [-1, 0, 2])).data == [0, 0, 2])
        #expect(GlobalAvgPool.forward(Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 6])).data == [3])
        // Same direction: 0; opposite: 4; orthogonal: 2; the batch mean of rows.
        let p = Tensor(shape: [3, 2], data: [1, 0, 3, 4, 0, 2])
        let z = Tensor(shape: [3, 2], data: [5, 0, -3, -4, 7, 0])
        // 1e-15: row norms (sqrt, divisions) and a 3-row mean give the loss 2 (ulp 4.4e-16) within ~2 ulps (exact here).
        #expect(abs(NormalizedMSE.forward(p, z) - (0 + 4 + 2) / 3) < 1e-15)
    }
}
