import BYOLModel
import Foundation

/// The embedded default data set: procedurally generated, deterministic, labelled
/// 32x32 images, so that `byol pretrain` runs with no download. Ten classes of shape
/// and texture (the class never depends on colour): filled disc, ring, filled square,
/// square outline, triangle, plus sign, horizontal stripes, vertical stripes,
/// checkerboard, diagonal stripes. Each image draws its foreground and background
/// colours (with a minimum luma contrast), position, size, stripe period and pixel
/// noise from Philox key [seed, 4], counter [0, image index, split, 0].
public enum SyntheticShapes {
    public static let classNames = ["disc", "ring", "square", "square outline", "triangle", "plus",
                                    "horizontal stripes", "vertical stripes", "checkerboard", "diagonal stripes"]

    public static func make(train: Int = 5000, test: Int = 1000, seed: UInt64 = 0) -> DataSplits {
        DataSplits(name: "embedded synthetic shapes (seed \(seed), \(train) train, \(test) test)",
                   train: split(count: train, split: 0, seed: seed), test: split(count: test, split: 1, seed: seed), classNames: classNames)
    }

    static func split(count: Int, split: UInt64, seed: UInt64) -> LabelledImages {
        var pixels = [UInt8](repeating: 0, count: count * 3072)
        var labels = [Int64](repeating: 0, count: count)
        for i in 0..<count {
            let label = i % 10
            labels[i] = Int64(label)
            var rng = PhiloxStream(key: (seed, 4), counter: (0, UInt64(i), split, 0))
            render(label: label, rng: &rng) { c, y, x, v in pixels[i * 3072 + (c * 32 + y) * 32 + x] = v }
        }
        return LabelledImages(pixels: pixels, labels: labels)
    }

    static func render(label: Int, rng: inout PhiloxStream, write: (Int, Int, Int, UInt8) -> Void) {
        // Colours with a luma contrast of at least 0.3.
        var fg = [Double](repeating: 0, count: 3), bg = fg
        repeat {
            fg = (0..<3).map { _ in rng.nextUniform() }
            bg = (0..<3).map { _ in rng.nextUniform() }
        } while abs(luma(fg) - luma(bg)) < 0.3
        let cx = rng.uniform(10, 22), cy = rng.uniform(10, 22)
        let r = rng.uniform(5, 10)
        let period = rng.uniform(3, 7)
        let phase = rng.uniform(0, period)
        let noise = rng.uniform(0.02, 0.08)
        for y in 0..<32 {
            for x in 0..<32 {
                let dx = Double(x) + 0.5 - cx, dy = Double(y) + 0.5 - cy
                let inBox = abs(dx) <= r && abs(dy) <= r
                let on: Bool
                switch label {
                case 0: on = dx * dx + dy * dy <= r * r
                case 1: on = dx * dx + dy * dy <= r * r && dx * dx + dy * dy >= (0.55 * r) * (0.55 * r)
                case 2: on = inBox
                case 3: on = inBox && (abs(dx) >= 0.6 * r || abs(dy) >= 0.6 * r)
                case 4: on = dy <= r && dy >= -r && abs(dx) <= (dy + r) / 2
                case 5: on = inBox && (abs(dx) <= 0.3 * r || abs(dy) <= 0.3 * r)
                case 6: on = inBox && Int(((Double(y) + phase) / period).rounded(.down)) % 2 == 0
                case 7: on = inBox && Int(((Double(x) + phase) / period).rounded(.down)) % 2 == 0
                case 8: on = inBox && (Int(((Double(x) + phase) / period).rounded(.down)) + Int(((Double(y) + phase) / period).rounded(.down))) % 2 == 0
                default: on = inBox && Int(((Double(x + y) + phase) / period).rounded(.down)) % 2 == 0
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
