import BYOLModel

/// Conv -> BN (-> ReLU): the network's repeated unit, with its activations.
final class ConvBN {
    let shape: ConvShape
    let conv: String, bn: String
    let relu: Bool
    /// Conv output [K, L] (BN input) and BN(+ReLU) output [K, L], L = nTotal * Ho * Wo.
    let pre: FloatBuffer, out: FloatBuffer
    var stats: FastBN.Stats
    let len: Int

    init(_ shape: ConvShape, conv: String, bn: String, relu: Bool, nTotal: Int, groups: Int) {
        self.shape = shape
        self.conv = conv
        self.bn = bn
        self.relu = relu
        len = nTotal * shape.ho * shape.wo
        pre = FloatBuffer(shape.k * len)
        out = FloatBuffer(shape.k * len)
        stats = FastBN.Stats(channels: shape.k, groups: groups)
    }
}

/// The projector or predictor (the network description's HeadSpec): its first Linear,
/// BN1d + ReLU, second Linear, by module name.
final class Head {
    let first: String, bn: String, second: String
    let inF: Int, hidden: Int, outF: Int
    let pre: FloatBuffer, act: FloatBuffer, out: FloatBuffer
    var stats: FastBN.Stats

    init(_ spec: HeadSpec, cols: Int, groups: Int) {
        (first, bn, second) = (spec.firstLinear, spec.bn, spec.secondLinear)
        let (inF, hidden, outF) = (spec.inFeatures, spec.hidden, spec.outFeatures)
        self.inF = inF
        self.hidden = hidden
        self.outF = outF
        pre = FloatBuffer(hidden * cols)
        act = FloatBuffer(hidden * cols)
        out = FloatBuffer(outF * cols)
        stats = FastBN.Stats(channels: hidden, groups: groups)
    }
}

/// One residual block: conv1 (BN, ReLU), conv2 (BN, + shortcut, ReLU), optional
/// downsample conv + BN on the shortcut.
struct Block {
    let c1: ConvBN, c2: ConvBN
    let ds: ConvBN?
}

/// The buffers and geometry of forward and backward passes of a BYOL network on a
/// fixed set of `nTotal` images of H x W (the segments of `seg`), in CNHW. Online and
/// target networks share one instance: their passes never overlap. Sums over samples
/// (BN, weight and bias gradients) go through `reduction`, across processes when there
/// are several; without one (eval mode) there is a single segment.
final class FastNetwork {
    let arch: Architecture
    let nTotal: Int, height: Int, width: Int
    let seg: Segments
    var bnBatches: Int { seg.bnBatches }
    let pool: WorkerPool
    let reduction: GroupReduction?
    let input: FloatBuffer
    let stem: ConvBN
    let blocks: [Block]
    let feat: FloatBuffer
    let projector: Head, predictor: Head
    // Scratch: the convolutions' (per-worker tiles or im2col, partial weight gradients),
    // three rotating activation-gradient buffers.
    let convScratch: ConvScratch
    var grad: [FloatBuffer] = []
    let dfeat: FloatBuffer
    let headGrad: [FloatBuffer]

    static func stemShape(_ arch: Architecture, h: Int, w: Int) -> ConvShape {
        ConvShape(c: 3, k: arch.widths[0], r: 3, stride: 1, pad: 1, h: h, w: w)
    }

    /// conv1, conv2 and the optional downsample of a block whose input is h x w.
    static func blockShapes(_ b: BlockSpec, h: Int, w: Int) -> (ConvShape, ConvShape, ConvShape?) {
        let s1 = ConvShape(c: b.inChannels, k: b.outChannels, r: 3, stride: b.stride, pad: 1, h: h, w: w)
        let s2 = ConvShape(c: b.outChannels, k: b.outChannels, r: 3, stride: 1, pad: 1, h: s1.ho, w: s1.wo)
        let sd = b.hasDownsample ? ConvShape(c: b.inChannels, k: b.outChannels, r: 1, stride: b.stride, pad: 0, h: h, w: w) : nil
        return (s1, s2, sd)
    }

    /// Every convolution of the backbone in forward order, the stem first.
    static func convShapes(arch: Architecture, height: Int, width: Int) -> [ConvShape] {
        var out = [stemShape(arch, h: height, w: width)]
        var (h, w) = (height, width)
        for b in arch.blockSpecs {
            let (s1, s2, sd) = blockShapes(b, h: h, w: w)
            out += [s1, s2] + (sd.map { [$0] } ?? [])
            (h, w) = (s1.ho, s1.wo)
        }
        return out
    }

    init(arch: Architecture, seg: Segments, height: Int, width: Int, pool: WorkerPool, training: Bool, reduction: GroupReduction? = nil) {
        self.arch = arch
        self.seg = seg
        let nTotal = seg.images
        let bnBatches = seg.bnBatches
        self.nTotal = nTotal
        self.height = height
        self.width = width
        self.pool = pool
        self.reduction = reduction
        input = FloatBuffer(3 * nTotal * height * width)
        var h = height, w = width
        let stemShape = Self.stemShape(arch, h: h, w: w)
        stem = ConvBN(
            stemShape, conv: "backbone." + arch.stem.conv + ".weight", bn: "backbone." + arch.stem.bn, relu: true, nTotal: nTotal, groups: bnBatches)
        var list: [Block] = []
        var maxAct = stem.shape.k * stem.len
        var shapes: [ConvShape] = []
        func track(_ cb: ConvBN) {
            maxAct = max(maxAct, cb.shape.k * cb.len, cb.shape.c * nTotal * cb.shape.h * cb.shape.w)
            shapes.append(cb.shape)
        }
        track(stem)
        for b in arch.blockSpecs {
            let p = "backbone."
            let (s1, s2, sd) = Self.blockShapes(b, h: h, w: w)
            let c1 = ConvBN(s1, conv: p + b.first.conv + ".weight", bn: p + b.first.bn, relu: true, nTotal: nTotal, groups: bnBatches)
            let c2 = ConvBN(s2, conv: p + b.second.conv + ".weight", bn: p + b.second.bn, relu: true, nTotal: nTotal, groups: bnBatches)
            var ds: ConvBN?
            if let shape = sd, let spec = b.downsample {
                ds = ConvBN(shape, conv: p + spec.conv + ".weight", bn: p + spec.bn, relu: false, nTotal: nTotal, groups: bnBatches)
            }
            for cb in [c1, c2] + (ds.map { [$0] } ?? []) { track(cb) }
            list.append(Block(c1: c1, c2: c2, ds: ds))
            h = s1.ho
            w = s1.wo
        }
        blocks = list
        feat = FloatBuffer(arch.featureSize * nTotal)
        projector = Head(arch.projector, cols: nTotal, groups: bnBatches)
        predictor = Head(arch.predictor, cols: nTotal, groups: bnBatches)
        // Per-segment partial weight gradients of the largest head linear.
        let linears = [
            arch.featureSize * arch.projHidden, arch.projHidden * arch.projOut, arch.projOut * arch.predHidden, arch.predHidden * arch.projOut
        ]
        convScratch = ConvScratch(
            shapes: shapes, seg: seg, workers: pool.workers, training: training,
            linearPartials: training ? seg.ranges.count * (linears.max() ?? 1) : 1)
        if training { grad = (0..<3).map { _ in FloatBuffer(maxAct) } }
        dfeat = FloatBuffer(arch.featureSize * nTotal)
        let maxHead = max(arch.projHidden, arch.predHidden, arch.projOut, arch.featureSize) * nTotal
        headGrad = (0..<3).map { _ in FloatBuffer(training ? maxHead : 1) }
    }

    // MARK: Forward

    /// Loads images (NCHW [nTotal, 3, H, W]) into the CNHW input, in order.
    func loadInput(_ images: [Float]) {
        let plane = height * width
        images.withUnsafeBufferPointer { b in
            for i in 0..<nTotal {
                for c in 0..<3 { (input.pointer + (c * nTotal + i) * plane).update(from: b.baseAddress! + (i * 3 + c) * plane, count: plane) }
            }
        }
    }

    /// Loads this process's samples' two views (NCHW, each [samples, 3, H, W], its
    /// groups' samples in order) into the CNHW input, group by group: a group's view-1
    /// images, then its view-2 images.
    func loadViews(_ view1: [Float], _ view2: [Float]) {
        let plane = height * width
        var sample = 0
        for r in seg.ranges {
            let m = r.count / 2
            for (v, view) in [view1, view2].enumerated() {
                view.withUnsafeBufferPointer { b in
                    for i in 0..<m {
                        let image = r.lowerBound + v * m + i
                        for c in 0..<3 {
                            (input.pointer + (c * nTotal + image) * plane).update(from: b.baseAddress! + ((sample + i) * 3 + c) * plane, count: plane)
                        }
                    }
                }
            }
            sample += m
        }
    }

    func convBN(_ cb: ConvBN, x: UnsafePointer<Float>, params: ParamStore, train: Bool, residual: UnsafePointer<Float>? = nil) {
        PhaseProfile.shared.measure("conv forward") {
            FastConv.forward(x, params.ptr(cb.conv), cb.pre.pointer, cb.shape, seg: seg, pool: pool, scratch: convScratch)
        }
        let gamma = params.ptr(cb.bn + ".weight"), beta = params.ptr(cb.bn + ".bias")
        if train {
            PhaseProfile.shared.measure("bn forward") {
                FastBN.forwardTrain(
                    cb.pre.pointer, cb.out.pointer, channels: cb.shape.k, hw: cb.shape.ho * cb.shape.wo, seg: seg, gamma: gamma,
                    beta: beta, residual: residual, relu: cb.relu, stats: &cb.stats, reduction: reduction, pool: pool)
            }
            var count = params.counts[cb.bn + ".num_batches_tracked"] ?? 0
            FastBN.updateRunning(
                mean: params.ptr(cb.bn + ".running_mean"), variance: params.ptr(cb.bn + ".running_var"), count: &count,
                stats: cb.stats, channels: cb.shape.k, groups: bnBatches, samplesPerGroup: seg.bnBatchImages * cb.shape.ho * cb.shape.wo)
            params.counts[cb.bn + ".num_batches_tracked"] = count
        } else {
            FastBN.forwardEval(
                cb.pre.pointer, cb.out.pointer, channels: cb.shape.k, len: cb.len, gamma: gamma, beta: beta,
                runningMean: params.ptr(cb.bn + ".running_mean"), runningVar: params.ptr(cb.bn + ".running_var"),
                residual: residual, relu: cb.relu, pool: pool)
        }
    }

    /// Backbone features into `feat` [w3, nTotal].
    func backboneForward(params: ParamStore, train: Bool) {
        convBN(stem, x: input.pointer, params: params, train: train)
        var x = UnsafePointer(stem.out.pointer)
        for b in blocks {
            convBN(b.c1, x: x, params: params, train: train)
            var shortcut = x
            if let ds = b.ds {
                convBN(ds, x: x, params: params, train: train)
                shortcut = UnsafePointer(ds.out.pointer)
            }
            convBN(b.c2, x: b.c1.out.pointer, params: params, train: train, residual: shortcut)
            x = UnsafePointer(b.c2.out.pointer)
        }
        let last = blocks.last!.c2
        let hw = last.shape.ho * last.shape.wo
        let c = last.shape.k
        FastPool.forward(x, feat.pointer, rows: c * nTotal, hw: hw)
    }

    func headForward(_ head: Head, x: UnsafePointer<Float>, params: ParamStore, train: Bool) {
        FastLinear.forward(
            x, params.ptr(head.first + ".weight"), params.ptr(head.first + ".bias"), head.pre.pointer, inF: head.inF, outF: head.hidden, seg: seg,
            pool: pool)
        let gamma = params.ptr(head.bn + ".weight"), beta = params.ptr(head.bn + ".bias")
        if train {
            FastBN.forwardTrain(
                head.pre.pointer, head.act.pointer, channels: head.hidden, hw: 1, seg: seg, gamma: gamma, beta: beta,
                residual: nil, relu: true, stats: &head.stats, reduction: reduction, pool: pool)
            var count = params.counts[head.bn + ".num_batches_tracked"] ?? 0
            FastBN.updateRunning(
                mean: params.ptr(head.bn + ".running_mean"), variance: params.ptr(head.bn + ".running_var"), count: &count,
                stats: head.stats, channels: head.hidden, groups: bnBatches, samplesPerGroup: seg.bnBatchImages)
            params.counts[head.bn + ".num_batches_tracked"] = count
        } else {
            FastBN.forwardEval(
                head.pre.pointer, head.act.pointer, channels: head.hidden, len: nTotal, gamma: gamma, beta: beta,
                runningMean: params.ptr(head.bn + ".running_mean"), runningVar: params.ptr(head.bn + ".running_var"),
                residual: nil, relu: true, pool: pool)
        }
        FastLinear.forward(
            head.act.pointer, params.ptr(head.second + ".weight"), params.ptr(head.second + ".bias"), head.out.pointer,
            inF: head.hidden, outF: head.outF, seg: seg, pool: pool)
    }

    // MARK: Backward

    /// Linear -> BN -> ReLU -> Linear backward. The first Linear's bias gets its gradient
    /// from the BN (FastBN.backward's dxSum: 0 up to float64 rounding, as in the
    /// reference). With `feeding`, this head's output is the input of that head, whose
    /// backward ran first: a shift of the output is a per-channel shift before that
    /// head's BN, so the output bias's gradient is W^T sum(dpre) of that head, evaluated
    /// in float64 from its first bias's gradient, instead of float32 row sums of dy.
    /// Train mode only (the step): an eval-mode BN passes a shift through.
    func headBackward(
        _ head: Head, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
        feeding next: Head? = nil, params: ParamStore, grads: ParamStore, sink: GradientBlocks
    ) {
        let dact = headGrad[0].pointer, dpre = headGrad[1].pointer
        FastLinear.backward(
            dy, head.act.pointer, params.ptr(head.second + ".weight"), dx: dact, dw: sink.targets(head.second + ".weight"),
            db: next == nil ? grads.ptr(head.second + ".bias") : nil, inF: head.hidden, outF: head.outF, seg: seg,
            reduction: reduction, partial: convScratch.partial.pointer, pool: pool)
        if let next {
            // next.0.weight [next.hidden, head.outF]; next.0.bias's gradient [next.hidden].
            let w = params.ptr(next.first + ".weight"), sum = grads.ptr(next.first + ".bias"), db = grads.ptr(head.second + ".bias")
            for i in 0..<head.outF {
                var t = 0.0
                for o in 0..<next.hidden { t += Double(w[o * head.outF + i]) * Double(sum[o]) }
                db[i] = Float(t)
            }
        }
        FastBN.backward(
            dact, reluOut: head.act.pointer, head.pre.pointer, dpre, channels: head.hidden, hw: 1, seg: seg,
            gamma: params.ptr(head.bn + ".weight"), stats: head.stats, dgamma: grads.ptr(head.bn + ".weight"), dbeta: grads.ptr(head.bn + ".bias"),
            dxSum: grads.ptr(head.first + ".bias"), reduction: reduction, pool: pool)
        FastLinear.backward(
            dpre, x, params.ptr(head.first + ".weight"), dx: dx, dw: sink.targets(head.first + ".weight"), db: nil,
            inF: head.inF, outF: head.hidden, seg: seg, reduction: reduction, partial: convScratch.partial.pointer, pool: pool)
    }

    /// BN backward of `cb` from dOut (masked in place by a fused ReLU) into dPre (which
    /// may be dOut itself: BN's input gradient is elementwise once its sums are known),
    /// then the conv backward into dx (when given; never dPre) and the weight gradient.
    func convBNBackward(
        _ cb: ConvBN, dOut: UnsafeMutablePointer<Float>, dPre: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>?, params: ParamStore, grads: ParamStore, sink: GradientBlocks
    ) {
        PhaseProfile.shared.measure("bn backward") {
            FastBN.backward(
                dOut, reluOut: cb.relu ? UnsafePointer(cb.out.pointer) : nil, cb.pre.pointer, dPre, channels: cb.shape.k,
                hw: cb.shape.ho * cb.shape.wo, seg: seg, gamma: params.ptr(cb.bn + ".weight"), stats: cb.stats,
                dgamma: grads.ptr(cb.bn + ".weight"), dbeta: grads.ptr(cb.bn + ".bias"), reduction: reduction, pool: pool)
        }
        PhaseProfile.shared.measure("conv backward") {
            FastConv.backward(
                dPre, x, params.ptr(cb.conv), dx: dx, dw: sink.targets(cb.conv), cb.shape, seg: seg,
                reduction: reduction, pool: pool, scratch: convScratch)
        }
    }

    /// dst[i] += src[i], elementwise over 64 fixed ranges (the shortcut's gradient).
    func add(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count n: Int) {
        let ranges = WorkerPool.split(n, parts: 64)
        PhaseProfile.shared.measure("shortcut add") {
            pool.run(chunks: ranges.count) { ri, _ in for i in ranges[ri] { dst[i] += src[i] } }
        }
    }

    /// Backbone backward from `dfeat` [w3, nTotal]: every backbone gradient, in three
    /// rotating activation-gradient buffers (BN backward runs in place where its input
    /// gradient is not needed afterwards).
    func backboneBackward(params: ParamStore, grads: ParamStore, sink: GradientBlocks) {
        let last = blocks.last!.c2
        let hw = last.shape.ho * last.shape.wo
        var dOut = grad[0].pointer, b1 = grad[1].pointer, b2 = grad[2].pointer
        FastPool.backward(dfeat.pointer, dOut, rows: last.shape.k * nTotal, hw: hw)
        for (bi, b) in blocks.enumerated().reversed() {
            let x = bi == 0 ? UnsafePointer(stem.out.pointer) : UnsafePointer(blocks[bi - 1].c2.out.pointer)
            // The block output's ReLU masks dOut in place; the shortcut below reuses the
            // masked dOut, so bn2 writes elsewhere (b1). conv2's input gradient goes to b2,
            // bn1 runs in place there, conv1's input gradient goes to b1 (free again).
            convBNBackward(b.c2, dOut: dOut, dPre: b1, x: b.c1.out.pointer, dx: b2, params: params, grads: grads, sink: sink)
            convBNBackward(b.c1, dOut: b2, dPre: b2, x: x, dx: b1, params: params, grads: grads, sink: sink)
            let dIn = b1
            let n = b.c1.shape.c * nTotal * b.c1.shape.h * b.c1.shape.w
            if let ds = b.ds {
                // Last use of dOut: the shortcut's BN runs in place on it.
                convBNBackward(ds, dOut: dOut, dPre: dOut, x: x, dx: b2, params: params, grads: grads, sink: sink)
                add(b2, into: dIn, count: n)
            } else {
                add(dOut, into: dIn, count: n)
            }
            (dOut, b1) = (dIn, dOut)
        }
        convBNBackward(stem, dOut: dOut, dPre: dOut, x: input.pointer, dx: nil, params: params, grads: grads, sink: sink)
    }
}
