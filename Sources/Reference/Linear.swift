/// Fully connected layer (PyTorch `nn.Linear`): x [N, I], w [O, I], b [O] -> y [N, O],
/// y[n, o] = b[o] + sum over i (in order) of x[n, i] * w[o, i].
public enum Linear {
    public static func forward(_ x: Tensor, _ w: Tensor, _ b: [Double]) -> Tensor {
        let (n, inF) = (x.shape[0], x.shape[1])
        let outF = w.shape[0]
        precondition(w.shape[1] == inF && b.count == outF, "linear weight \(w.shape) / bias \(b.count) do not fit input \(x.shape)")
        var y = Tensor(zeros: [n, outF])
        for ni in 0..<n {
            for o in 0..<outF {
                var sum = 0.0
                for i in 0..<inF { sum += x.data[ni * inF + i] * w.data[o * inF + i] }
                y.data[ni * outF + o] = sum + b[o]
            }
        }
        return y
    }

    /// dx[n, i] = sum over o of dy[n, o] w[o, i]; dw[o, i] = sum over n of dy[n, o] x[n, i];
    /// db[o] = sum over n of dy[n, o].
    public static func backward(_ dy: Tensor, x: Tensor, w: Tensor) -> (dx: Tensor, dw: Tensor, db: [Double]) {
        let (n, inF) = (x.shape[0], x.shape[1])
        let outF = w.shape[0]
        var dx = Tensor(zeros: x.shape)
        var dw = Tensor(zeros: w.shape)
        var db = [Double](repeating: 0, count: outF)
        for ni in 0..<n {
            for i in 0..<inF {
                var sum = 0.0
                for o in 0..<outF { sum += dy.data[ni * outF + o] * w.data[o * inF + i] }
                dx.data[ni * inF + i] = sum
            }
        }
        for o in 0..<outF {
            var sumB = 0.0
            for ni in 0..<n { sumB += dy.data[ni * outF + o] }
            db[o] = sumB
            for i in 0..<inF {
                var sum = 0.0
                for ni in 0..<n { sum += dy.data[ni * outF + o] * x.data[ni * inF + i] }
                dw.data[o * inF + i] = sum
            }
        }
        return (dx, dw, db)
    }
}
