import BYOLModel
import Foundation

/// The embedded default data set: procedurally generated, deterministic, labelled
/// 32x32 images, so that `byol pretrain` runs with no download. Ten classes of pattern
/// that fill the image, so that a random crop still shows its class, and that a
/// horizontal flip keeps: horizontal stripes, vertical stripes, checkerboard, dot grid,
/// concentric rings, crosshatch, blobs, wavy stripes, diamond lattice, diagonal
/// stripes. Every image is light grey on dark grey with the same noise level; each
/// draws its period (5-7 pixels), phase, centre, wave amplitude and blobs from Philox
/// key [seed, 4], counter [0, image index, split, 0].
///
/// Why so plain: BYOL learns whatever two augmented views of an image share. With
/// random colours (or random grey levels) per image, that was the colours, which the
/// colour jitter keeps, and kNN accuracy fell below a random network's; with one
/// palette, the pattern is the only cue that survives the augmentations.
public enum SyntheticShapes {
    public static let classNames = [
        "horizontal stripes", "vertical stripes", "checkerboard", "dot grid", "concentric rings",
        "crosshatch", "blobs", "wavy stripes", "diamond lattice", "diagonal stripes"
    ]

    public static func make(train: Int = 5000, test: Int = 1000, seed: UInt64 = 0) -> DataSplits {
        DataSplits(
            name: "embedded synthetic patterns (seed \(seed), \(train) train, \(test) test)",
            train: split(count: train, split: 0, seed: seed), test: split(count: test, split: 1, seed: seed), classNames: classNames)
    }

    static func split(count: Int, split: UInt64, seed: UInt64) -> LabelledImages {
        var pixels = [UInt8](repeating: 0, count: count * 3072)
        var labels = [Int64](repeating: 0, count: count)
        for i in 0..<count {
            let label = i % 10
            labels[i] = Int64(label)
            var rng = PhiloxStream(seed: seed, .syntheticData, counter: (0, UInt64(i), split, 0))
            render(label: label, rng: &rng) { c, y, x, v in pixels[i * 3072 + (c * 32 + y) * 32 + x] = v }
        }
        return LabelledImages(pixels: pixels, labels: labels)
    }

    static func render(label: Int, rng: inout PhiloxStream, write: (Int, Int, Int, UInt8) -> Void) {
        // One palette and one noise level for every image, a narrow period range: no
        // per-image cue that the augmentations keep, other than the pattern itself.
        let fg = [0.85, 0.85, 0.85], bg = [0.15, 0.15, 0.15]
        let period = rng.uniform(5, 7)
        let px = rng.uniform(0, period), py = rng.uniform(0, period)
        let cx = rng.uniform(0, 32), cy = rng.uniform(0, 32)
        let amp = rng.uniform(1.5, 3)
        let noise = 0.04
        // Blob centres for class 6.
        let blobs = (0..<6).map { _ in (rng.uniform(0, 32), rng.uniform(0, 32), rng.uniform(3, 6)) }
        func band(_ v: Double, _ duty: Double = 0.5) -> Bool {
            let f = v / period - (v / period).rounded(.down)
            return f < duty
        }
        for y in 0..<32 {
            for x in 0..<32 {
                let (fx, fy) = (Double(x) + 0.5, Double(y) + 0.5)
                let on: Bool
                switch label {
                case 0: on = band(fy + py)
                case 1: on = band(fx + px)
                case 2: on = band(fx + px) != band(fy + py)
                case 3:
                    let dx = (fx + px) - ((fx + px) / period).rounded(.down) * period - period / 2
                    let dy = (fy + py) - ((fy + py) / period).rounded(.down) * period - period / 2
                    on = dx * dx + dy * dy <= (0.3 * period) * (0.3 * period)
                case 4: on = band(((fx - cx) * (fx - cx) + (fy - cy) * (fy - cy)).squareRoot())
                case 5: on = band(fx + px, 0.25) || band(fy + py, 0.25)
                case 6: on = blobs.contains { (bx, by, r) in (fx - bx) * (fx - bx) + (fy - by) * (fy - by) <= r * r }
                case 7: on = band(fy + py + amp * sin(2 * Double.pi * fx / (2 * period)))
                case 8: on = band(abs(fx - cx) + abs(fy - cy))
                default: on = band(fx + fy + px)
                }
                for c in 0..<3 {
                    let base = on ? fg[c] : bg[c]
                    let v = base + noise * (rng.nextUniform() + rng.nextUniform() - 1)
                    write(c, y, x, UInt8(max(0, min(255, (v * 255).rounded()))))
                }
            }
        }
    }

    static func luma(_ c: [Double]) -> Double { 0.2989 * c[0] + 0.587 * c[1] + 0.114 * c[2] }
}
