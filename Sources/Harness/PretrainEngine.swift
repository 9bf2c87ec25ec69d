import BYOLModel
import Data
import Fast
import Foundation
import NumPyIO
import Reference

/// The training path `byol pretrain` drives: the float32 OpenBLAS trainer or the float64
/// reference, behind one small interface.
protocol PretrainEngine: AnyObject {
    func load(_ state: BYOLState)
    /// One step on views [B, 3, H, W] (float32 values); returns the loss.
    func step(view1: [Float], view2: [Float], config: BYOLStep.Config) -> Double
    func exportState() -> BYOLState
    /// The first learnable parameter whose gradient has a NaN or Inf, if any.
    func firstNonFiniteGradient() -> String?
    /// The first array of the state after the step with a NaN or Inf, if any.
    func firstNonFiniteStateArray() -> String?
    /// Online backbone features [N, w3] in eval mode for images (already normalized).
    func features(_ images: [Float], count: Int) -> [Float]
}

final class FastEngine: PretrainEngine {
    let trainer: FastTrainer
    let embedder: FastEmbedder

    init(arch: Architecture, batch: Int, bnViews: BNViews, threads: Int) {
        trainer = FastTrainer(arch: arch, batch: batch, height: 32, width: 32, bnViews: bnViews, threads: threads)
        embedder = FastEmbedder(arch: arch, batch: 256, height: 32, width: 32, threads: threads)
    }

    func load(_ state: BYOLState) { trainer.load(state) }

    func step(view1: [Float], view2: [Float], config: BYOLStep.Config) -> Double {
        trainer.train(view1: view1, view2: view2, config: config)
    }

    func exportState() -> BYOLState { trainer.exportState() }

    func firstNonFiniteGradient() -> String? { trainer.firstNonFiniteGradient() }

    func firstNonFiniteStateArray() -> String? { trainer.firstNonFiniteStateArray() }

    func features(_ images: [Float], count: Int) -> [Float] {
        embedder.load(trainer.exportState(), network: "online")
        return embedder.features(all: images, count: count)
    }
}

final class ReferenceEngine: PretrainEngine {
    var state: BYOLState
    var lastGrads: [String: Tensor] = [:]

    init(arch: Architecture) { state = Initializer.initialState(arch: arch, seed: 0) }

    func load(_ state: BYOLState) { self.state = state.asFloat64() }

    func step(view1: [Float], view2: [Float], config: BYOLStep.Config) -> Double {
        let b = view1.count / (3 * 32 * 32)
        let r = BYOLStep.run(state, view1: Tensor(shape: [b, 3, 32, 32], data: view1.map(Double.init)),
                             view2: Tensor(shape: [b, 3, 32, 32], data: view2.map(Double.init)), config: config)
        state = r.next
        state.arrays["loss"] = nil
        lastGrads = r.grads
        return r.loss
    }

    func exportState() -> BYOLState { state }

    func firstNonFiniteGradient() -> String? {
        for s in state.arch.learnableSpecs where lastGrads[s.name]?.data.contains(where: { !$0.isFinite }) == true { return s.name }
        return nil
    }

    func firstNonFiniteStateArray() -> String? {
        state.orderedNames.first { name in
            guard let a = state.arrays[name], a.dtype != .int64 else { return false }
            return a.doubles.contains { !$0.isFinite }
        }
    }

    func features(_ images: [Float], count: Int) -> [Float] {
        var out: [Float] = []
        let per = 3 * 32 * 32
        var i = 0
        while i < count {
            let n = min(64, count - i)
            let x = Tensor(shape: [n, 3, 32, 32], data: images[i * per..<(i + n) * per].map(Double.init))
            out += Embed.features(state, images: x, network: "online").data.map(Float.init)
            i += n
        }
        return out
    }
}

/// The test transform: pixels / 255, normalized with the CIFAR-10 statistics.
func testTransform(_ d: LabelledImages) -> [Float] {
    let plane = d.height * d.width
    let mean = [0.4914, 0.4822, 0.4465], std = [0.2470, 0.2435, 0.2616]
    var out = [Float](repeating: 0, count: d.pixels.count)
    for i in 0..<d.count {
        for c in 0..<3 {
            let base = (i * 3 + c) * plane
            for p in 0..<plane { out[base + p] = Float((Double(d.pixels[base + p]) / 255 - mean[c]) / std[c]) }
        }
    }
    return out
}

/// Weighted kNN accuracy of an engine's online backbone: bank = the train set with the
/// test transform, queries = the test set.
func knnAccuracy(_ engine: PretrainEngine, data: DataSplits, k: Int, temperature: Double, threads: Int) -> Double {
    let bank = engine.features(testTransform(data.train), count: data.train.count)
    let queries = engine.features(testTransform(data.test), count: data.test.count)
    let f = bank.count / max(data.train.count, 1)
    let r = FastKNN.classify(bank: bank, bankLabels: data.train.labels, queries: queries, queryLabels: data.test.labels, features: f,
                             k: k, temperature: temperature, classes: max(data.classNames.count, 1), threads: threads)
    return r.accuracy ?? 0
}

public enum KNNEval {
    /// Weighted kNN accuracy of a state's backbone (float32 path, eval mode).
    public static func accuracy(state: BYOLState, network: String, data: DataSplits, k: Int, temperature: Double, threads: Int) -> Double {
        let e = FastEmbedder(arch: state.arch, batch: 256, height: 32, width: 32, threads: threads)
        e.load(state, network: network)
        func embed(_ d: LabelledImages) -> [Float] { e.features(all: testTransform(d), count: d.count) }
        let r = FastKNN.classify(bank: embed(data.train), bankLabels: data.train.labels, queries: embed(data.test), queryLabels: data.test.labels,
                                 features: state.arch.featureSize, k: k, temperature: temperature, classes: data.classNames.count, threads: threads)
        return r.accuracy ?? 0
    }
}
