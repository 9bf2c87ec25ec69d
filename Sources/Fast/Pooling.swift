/// Global average pooling on rows of `hw` values (a channel of one sample in CNHW):
/// y[i] = (sum of row i, in order) / hw.
enum FastPool {
    static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, hw: Int) {
        for i in 0..<rows {
            var s: Float = 0
            for j in 0..<hw { s += x[i * hw + j] }
            y[i] = s / Float(hw)
        }
    }

    /// dx[i, j] = dy[i] / hw.
    static func backward(_ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, rows: Int, hw: Int) {
        for i in 0..<rows {
            let g = dy[i] / Float(hw)
            for j in 0..<hw { dx[i * hw + j] = g }
        }
    }
}

/// ReLU as the fused BN passes apply it: y = max(x, 0), which keeps a NaN; the backward
/// passes dy where x > 0 and 0 elsewhere (NaN included), as the BN backward's mask does.
enum FastReLU {
    static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] = max(x[i], 0) }
    }

    static func backward(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { dx[i] = x[i] > 0 ? dy[i] : 0 }
    }
}
