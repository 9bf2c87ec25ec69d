import BYOLModel
import Foundation

/// Which probabilities of blur and solarization each view uses (docs/contract.md §3).
public enum Recipe: String, Sendable, CaseIterable {
    /// CIFAR-10 BYOL: no blur, solarize view 2 with p 0.2.
    case cifar
    /// The BYOL paper's asymmetric recipe: blur p 1.0 / 0.1, solarize p 0 / 0.2.
    case byol

    /// Blur probability of view v (1 or 2).
    public func blurProbability(view v: Int) -> Double {
        switch self {
        case .cifar: return 0
        case .byol: return v == 1 ? 1.0 : 0.1
        }
    }

    public func solarizeProbability(view v: Int) -> Double { v == 1 ? 0 : 0.2 }
}

/// The random parameters of one view of one image.
public struct ViewParams: Equatable, Sendable {
    public var top: Int, left: Int, height: Int, width: Int
    public var flip: Bool
    public var jitter: Bool
    /// Order of the colour operations: 0 brightness, 1 contrast, 2 saturation, 3 hue.
    public var jitterOrder: [Int]
    /// Brightness, contrast, saturation factors and hue shift, in that order.
    public var jitterFactors: [Double]
    public var grayscale: Bool
    public var blur: Bool
    public var sigma: Double
    public var solarize: Bool

    /// Draws the parameters for image `index`, epoch `epoch`, view `view` (1 or 2) of an
    /// H x W image, from NumPy's `Generator(Philox(key=[seed, 0], counter=[0, index,
    /// epoch, view])).random()` stream, in the order of docs/contract.md §3.5.
    public static func draw(
        seed: UInt64, index: UInt64, epoch: UInt64, view: Int, imageHeight h: Int, imageWidth w: Int, recipe: Recipe
    ) -> ViewParams {
        var rng = PhiloxStream(seed: seed, .augment, counter: (0, index, epoch, UInt64(view)))
        // 1. RandomResizedCrop.get_params, scale (0.08, 1), ratio (3/4, 4/3).
        let (top, left, ch, cw) = cropParams(&rng, height: h, width: w)
        // 2. Horizontal flip.
        let flip = rng.nextUniform() < 0.5
        // 3. Colour jitter: applied with p 0.8; order and factors always drawn.
        let jitter = rng.nextUniform() < 0.8
        var order = [0, 1, 2, 3]
        for j in stride(from: 3, through: 1, by: -1) {
            let k = Int((rng.nextUniform() * Double(j + 1)).rounded(.down))
            order.swapAt(j, k)
        }
        let factors = [rng.uniform(0.6, 1.4), rng.uniform(0.6, 1.4), rng.uniform(0.8, 1.2), rng.uniform(-0.1, 0.1)]
        // 4. Grayscale with p 0.2.
        let gray = rng.nextUniform() < 0.2
        // 5. Blur with the recipe's p; sigma always drawn.
        let blur = rng.nextUniform() < recipe.blurProbability(view: view)
        let sigma = rng.uniform(0.1, 2.0)
        // 6. Solarize with the recipe's p.
        let solarize = rng.nextUniform() < recipe.solarizeProbability(view: view)
        return ViewParams(
            top: top, left: left, height: ch, width: cw, flip: flip, jitter: jitter, jitterOrder: order,
            jitterFactors: factors, grayscale: gray, blur: blur, sigma: sigma, solarize: solarize)
    }

    /// torchvision's `RandomResizedCrop.get_params` with U(lo, hi) = lo + (hi - lo) u.
    static func cropParams(_ rng: inout PhiloxStream, height: Int, width: Int) -> (Int, Int, Int, Int) {
        let area = Double(height * width)
        let logLo = log(3.0 / 4.0), logHi = log(4.0 / 3.0)
        for _ in 0..<10 {
            let target = area * rng.uniform(0.08, 1.0)
            let aspect = exp(rng.uniform(logLo, logHi))
            let w = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
            if 0 < w && w <= width && 0 < h && h <= height {
                let top = Int((rng.nextUniform() * Double(height - h + 1)).rounded(.down))
                let left = Int((rng.nextUniform() * Double(width - w + 1)).rounded(.down))
                return (top, left, h, w)
            }
        }
        // Fallback: the central crop of the whole image, clipped to the ratio range.
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < 3.0 / 4.0 {
            h = Int((Double(w) / (3.0 / 4.0)).rounded(.toNearestOrEven))
        } else if inRatio > 4.0 / 3.0 {
            w = Int((Double(h) * (4.0 / 3.0)).rounded(.toNearestOrEven))
        }
        return ((height - h) / 2, (width - w) / 2, h, w)
    }
}
