import Augment
import Foundation
import NumPyIO
import TestSupport
import Testing
import Verification

/// `byol augment` against NumPy's Philox draws (ci/numpy_augment_params.py) and
/// torchvision v2's functional ops on those draws (ci/torchvision_reference.py).
@Suite struct AugmentCrossCheck {
    static let fixtures = Repo.root.appendingPathComponent("Fixtures").path

    func run(_ c: AugmentSuite.Case, threads: Int = 2) throws -> [String: NDArray] {
        Dictionary(uniqueKeysWithValues: try AugmentSuite.augment(c, fixtures: Self.fixtures, threads: threads).map { ($0.name, $0.array) })
    }

    /// Parameters: integers identical, floats within 1e-15 relative of NumPy's; views
    /// within 1e-9 of torchvision's; 1 and 2 threads byte-identical (AugmentSuite).
    /// The bounds are docs/contract.md §4's, set in AugmentSuite. 1e-15 relative: the
    /// floats come from the same Philox words by the same formulas, a few ulps at most
    /// (identical today). 1e-9: both sides are float64 but resize, blur and hue sum in
    /// other orders; ~1e-14 is seen, the contract's bound leaves room for other data.
    @Test func augmentMatchesNumPyAndTorchvision() {
        let rows = AugmentSuite.run(fixtures: Self.fixtures).filter { $0.check.hasPrefix("augment") }
        #expect(rows.count == 3 * AugmentSuite.cases.count)
        for r in rows { #expect(r.passed, "\(r.check)\n\(r.failures.joined(separator: "\n"))") }
    }

    /// The fixtures exercise every operation, the crop fallback included.
    @Test func fixturesCoverEveryOperation() throws {
        var applied: [String: Int64] = [:]
        var fallback = false
        for c in AugmentSuite.cases {
            let p = try NPZ.load(Repo.fixture("augment/params_\(c.name).npz"))
            for (name, a) in p.members {
                guard case .int64(let v) = a.storage else { continue }
                let op = String(name.split(separator: ".").last!)
                if ["flip", "jitter", "grayscale", "blur", "solarize"].contains(op) { applied[op, default: 0] += v.reduce(0, +) }
                if op == "crop" && c.images == "images_wide" {
                    for i in stride(from: 0, to: v.count, by: 4) where v[i + 2] == 6 && v[i + 3] == 8 && v[i + 1] == 16 { fallback = true }
                }
            }
        }
        for op in ["flip", "jitter", "grayscale", "blur", "solarize"] { #expect(applied[op, default: 0] > 0, "\(op) never applied") }
        #expect(fallback, "the crop fallback is never taken")
    }

    /// Views depend only on (seed, epoch, index, view): not on threads or batch composition.
    @Test func independentOfThreadsAndBatch() throws {
        let c = AugmentSuite.cases[1]
        let one = try run(c, threads: 1), two = try run(c, threads: 2), five = try run(c, threads: 5)
        #expect(one == two && two == five)
        // Image 3 alone (with its data-set index) gives the same views as within the batch.
        let f = try NPZ.load(Repo.fixture("augment/images.npz"))
        guard case .uint8(let px) = try f.require("images").storage, case .int64(let idx) = try f.require("indices").storage else {
            Issue.record("fixture dtypes")
            return
        }
        let per = 3 * 32 * 32
        let aug = Augmenter(seed: c.seed, epoch: c.epoch, recipe: c.recipe, size: c.size)
        let single = aug.run(images: Array(px[3 * per..<4 * per]), count: 1, height: 32, width: 32, indices: [idx[3]], threads: 1)
        #expect(single.views[0] == Array(one["view1"]!.doubles[3 * per..<4 * per]))
        #expect(single.views[1] == Array(one["view2"]!.doubles[3 * per..<4 * per]))
    }
}

@Suite struct ImageOperations {
    func image(_ pixels: [Double]) -> Image { Image(height: 1, width: pixels.count / 3, data: pixels) }

    @Test func hsvRoundTripAndZeroShift() {
        let img = image([0.9, 0.1, 0.5, 0.3, 0.3, 0.3, 0.0, 1.0, 0.25])
        let out = ImageOps.adjustHue(img, 0)
        // 1e-15: RGB -> HSV -> RGB in float64 (divisions, a mod 1, products) on [0, 1] values: 5e-16 seen, 4.5 ulps of 1.
        for (a, b) in zip(out.data, img.data) { #expect(abs(a - b) < 1e-15) }
        // A shift of 1/3 turns pure red into pure green.
        let red = image([1, 0, 0])
        let green = ImageOps.adjustHue(red, 1.0 / 3.0)
        // 1e-15: the same round trip with the hue shifted by 1/3 (itself rounded): a few ulps of 1 (exact here).
        #expect(abs(green.data[0]) < 1e-15 && abs(green.data[1] - 1) < 1e-15 && abs(green.data[2]) < 1e-15)
    }

    @Test func blendsClampAndSolarize() {
        let img = image([0.2, 0.8, 0.6])
        #expect(ImageOps.adjustBrightness(img, 1.5).data == [0.2 * 1.5, 1, 0.6 * 1.5])
        #expect(ImageOps.solarize(img).data == [0.2, 1 - 0.8, 1 - 0.6])
        let gray = ImageOps.grayscale(img).data
        #expect(gray[0] == 0.2 * 0.2989 + 0.8 * 0.587 + 0.6 * 0.114 && gray[0] == gray[1] && gray[1] == gray[2])
    }

    @Test func gaussianKernelIsNormalizedGaussian() {
        let k = ImageOps.gaussianKernel1D(size: 3, sigma: 1.0)
        let e = exp(-0.5)  // x = +-1/sqrt(2): exp(-(x / sigma)^2) = exp(-1/2)
        // 1e-15 (both): (1/sqrt(2))^2 is 0.5 plus an ulp, and exp and the softmax sum round (1.1e-16 seen).
        #expect(abs(k[0] - e / (1 + 2 * e)) < 1e-15)
        #expect(abs(k[1] - 1 / (1 + 2 * e)) < 1e-15)
        #expect(k[0] == k[2])
    }

    @Test func resizeToSameSizeIsACrop() {
        let data = (0..<(3 * 4 * 5)).map { Double($0) }
        let out = ImageOps.resizedCrop(Image(height: 4, width: 5, data: data), top: 1, left: 2, height: 2, width: 2, size: 2)
        #expect(out.data == [7, 8, 12, 13, 27, 28, 32, 33, 47, 48, 52, 53])
    }
}
