import Foundation

/// Progress on stderr: a bar redrawn in place on a terminal, a line per 10% otherwise.
public final class Progress {
    let isTTY = isatty(STDERR_FILENO) != 0
    var lastPrinted = -1
    public init() {}

    func update(epoch: Int, epochs: Int, step: Int, stepsPerEpoch: Int, loss: Double, imagesPerSecond: Double, eta: Double) {
        let frac = Double(step) / Double(stepsPerEpoch)
        let width = 30
        let filled = Int(frac * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let etaText = String(format: "%d:%02d:%02d", Int(eta) / 3600, Int(eta) / 60 % 60, Int(eta) % 60)
        let text = String(
            format: "epoch %d/%d [%@] %d/%d loss %.4f %.1f img/s ETA %@", epoch, epochs, bar, step, stepsPerEpoch, loss,
            imagesPerSecond, etaText)
        if isTTY {
            FileHandle.standardError.write(Data(("\r" + text).utf8))
        } else {
            let decile = Int(frac * 10)
            if decile != lastPrinted {
                lastPrinted = decile
                FileHandle.standardError.write(Data((text + "\n").utf8))
            }
        }
    }

    func finish() {
        if isTTY { FileHandle.standardError.write(Data("\n".utf8)) }
        lastPrinted = -1
    }
}
