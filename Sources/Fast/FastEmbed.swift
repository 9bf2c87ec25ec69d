import BYOLModel

/// Backbone features in eval mode, float32, batch by batch with reused buffers.
public final class FastEmbedder {
    public let arch: Architecture
    public let batch: Int, height: Int, width: Int
    let net: FastNetwork
    let params: ParamStore

    public init(arch: Architecture, batch: Int, height: Int, width: Int, threads: Int) {
        self.arch = arch
        self.batch = batch
        self.height = height
        self.width = width
        net = FastNetwork(arch: arch, seg: Segments(images: batch), height: height, width: width, pool: WorkerPool(workers: threads), training: false)
        params = ParamStore(
            specs: arch.onlineSpecs.filter { !$0.name.hasPrefix("online.predictor") }.map {
                var s = $0
                s.name = String(s.name.dropFirst("online.".count))
                return s
            })
    }

    /// Uses the `network` ("online" or "target") arrays of `state`.
    public func load(_ state: BYOLState, network: String) {
        params.load(state, prefix: network + ".")
    }

    /// images [n <= batch, 3, H, W] NCHW -> features [n, w3] (sample-major).
    public func features(_ images: [Float], count n: Int) -> [Float] {
        precondition(n <= batch)
        var padded = images
        if n < batch { padded += [Float](repeating: 0, count: (batch - n) * 3 * height * width) }
        net.loadInput(padded)
        net.backboneForward(params: params, train: false)
        let f = arch.featureSize
        var out = [Float](repeating: 0, count: n * f)
        for c in 0..<f { for i in 0..<n { out[i * f + c] = net.feat.pointer[c * batch + i] } }
        return out
    }

    /// Any number of images [count, 3, H, W] -> features [count, w3], `batch` at a time.
    public func features(all images: [Float], count: Int) -> [Float] {
        let per = 3 * height * width
        var out: [Float] = []
        out.reserveCapacity(count * arch.featureSize)
        var i = 0
        while i < count {
            let n = min(batch, count - i)
            out += features(Array(images[i * per..<(i + n) * per]), count: n)
            i += n
        }
        return out
    }
}
