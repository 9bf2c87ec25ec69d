import Foundation
import NumPyIO

/// plot.svg of a run: the training loss per step (and its moving average) and the kNN
/// accuracy per epoch, drawn from metrics.jsonl. Plain SVG, no dependencies.
enum Plot {
    static func write(metricsPath: String, to path: String, title: String) throws {
        guard let d = FileManager.default.contents(atPath: metricsPath) else { return }
        var loss: [(Double, Double)] = [], knn: [(Double, Double)] = []
        for line in String(decoding: d, as: UTF8.self).split(separator: "\n") {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
            if o["type"] as? String == "step", let s = o["step"] as? Double, let l = o["loss"] as? Double { loss.append((s, l)) }
            if o["type"] as? String == "epoch", let e = o["epoch"] as? Double, let a = o["knn_accuracy"] as? Double { knn.append((e, 100 * a)) }
        }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"960\" height=\"400\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg += "<rect width=\"960\" height=\"400\" fill=\"white\"/>\n"
        svg += "<text x=\"480\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">\(escape(title))</text>\n"
        var smooth: [(Double, Double)] = []
        let w = max(1, loss.count / 50)
        for i in 0..<loss.count {
            let lo = max(0, i - w + 1)
            smooth.append((loss[i].0, loss[lo...i].map(\.1).reduce(0, +) / Double(i - lo + 1)))
        }
        svg += panel(x: 60, title: "training loss", xLabel: "step", series: [(loss, "#9ecae1"), (smooth, "#08519c")], markers: false)
        svg += panel(x: 540, title: "kNN accuracy (%)", xLabel: "epoch", series: [(knn, "#d94801")], markers: true)
        svg += "</svg>\n"
        try AtomicFile.write(path, data: Data(svg.utf8))
    }

    static func panel(x x0: Double, title: String, xLabel: String, series: [([(Double, Double)], String)], markers: Bool) -> String {
        let (w, h, y0) = (380.0, 300.0, 50.0)
        let pts = series.flatMap(\.0)
        var s = "<g>\n<text x=\"\(x0 + w / 2)\" y=\"\(y0 - 10)\" text-anchor=\"middle\">\(title)</text>\n"
        s += "<rect x=\"\(x0)\" y=\"\(y0)\" width=\"\(w)\" height=\"\(h)\" fill=\"none\" stroke=\"#444\"/>\n"
        s += "<text x=\"\(x0 + w / 2)\" y=\"\(y0 + h + 30)\" text-anchor=\"middle\">\(xLabel)</text>\n"
        guard let xmin = pts.map(\.0).min(), let xmax = pts.map(\.0).max(), var ymin = pts.map(\.1).min(), var ymax = pts.map(\.1).max() else {
            return s + "</g>\n"
        }
        if ymax - ymin < 1e-9 {
            ymin -= 1
            ymax += 1
        }
        let pad = (ymax - ymin) * 0.05
        ymin -= pad
        ymax += pad
        let xs = xmax > xmin ? xmax - xmin : 1
        func px(_ v: Double) -> Double { x0 + (v - xmin) / xs * w }
        func py(_ v: Double) -> Double { y0 + h - (v - ymin) / (ymax - ymin) * h }
        for i in 0...4 {
            let v = ymin + (ymax - ymin) * Double(i) / 4
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", x0 - 4, py(v) + 4, v)
            s += String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", x0, x0 + w, py(v), py(v))
        }
        s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"start\">%.0f</text>\n", x0, y0 + h + 15, xmin)
        s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>\n", x0 + w, y0 + h + 15, xmax)
        for (points, colour) in series where !points.isEmpty {
            let path = points.map { String(format: "%.1f,%.1f", px($0.0), py($0.1)) }.joined(separator: " ")
            s += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\" points=\"\(path)\"/>\n"
            if markers {
                for p in points { s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%@\"/>\n", px(p.0), py(p.1), colour) }
            }
        }
        return s + "</g>\n"
    }

    static func escape(_ t: String) -> String {
        t.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
