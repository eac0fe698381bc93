import Foundation
import SieveRuntime

/// The speed/quality trade-off of `sieve bench --densities … --plot FILE` as a standalone SVG chart: decode
/// speed-up over dense against perplexity increase, one point per density, predicted and oracle selection.
enum TradeOffChart {
    static func svg(_ rows: [SparsityBenchmark.Row], title: String) -> String {
        let width = 720.0, height = 480.0
        let left = 70.0, right = 170.0, top = 50.0, bottom = 60.0
        let points = rows.compactMap { r in r.perplexityIncrease.map { (r, $0, r.speedup) } }
        let maxX = niceCeiling(max(1, points.map(\.1).max() ?? 1))
        let minX = min(0, niceFloor(points.map(\.1).min() ?? 0))
        let maxY = niceCeiling(max(1.5, (points.map(\.2).max() ?? 1) * 1.1))
        let plotW = width - left - right, plotH = height - top - bottom
        func x(_ v: Double) -> Double { left + (v - minX) / (maxX - minX) * plotW }
        func y(_ v: Double) -> Double { top + plotH - v / maxY * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(f(width / 2))" y="24" text-anchor="middle" font-size="15">\(escape(title))</text>

        """
        // Grid and ticks.
        for i in 0...5 {
            let vx = minX + (maxX - minX) * Double(i) / 5, vy = maxY * Double(i) / 5
            s += "<line x1=\"\(f(x(vx)))\" y1=\"\(f(top))\" x2=\"\(f(x(vx)))\" y2=\"\(f(top + plotH))\" stroke=\"#e5e5e5\"/>\n"
            s += "<text x=\"\(f(x(vx)))\" y=\"\(f(top + plotH + 18))\" text-anchor=\"middle\">\(String(format: "%g", (vx * 10).rounded() / 10))</text>\n"
            s += "<line x1=\"\(f(left))\" y1=\"\(f(y(vy)))\" x2=\"\(f(left + plotW))\" y2=\"\(f(y(vy)))\" stroke=\"#e5e5e5\"/>\n"
            s += "<text x=\"\(f(left - 8))\" y=\"\(f(y(vy) + 4))\" text-anchor=\"end\">\(String(format: "%.2f", vy))×</text>\n"
        }
        s += "<line x1=\"\(f(left))\" y1=\"\(f(y(1)))\" x2=\"\(f(left + plotW))\" y2=\"\(f(y(1)))\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n"
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#333\"/>\n"
        s += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 18))\" text-anchor=\"middle\">perplexity increase over dense (%)</text>\n"
        s += "<text transform=\"translate(18 \(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\">decode speed-up over dense</text>\n"
        // Series.
        let styles: [(SparsityMode, String)] = [(.dense, "#333333"), (.predicted, "#1f77b4"), (.oracle, "#ff7f0e")]
        for (mode, color) in styles {
            let series = points.filter { $0.0.configuration.selection == mode }.sorted { $0.0.configuration.ffnDensity > $1.0.configuration.ffnDensity }
            if series.count > 1 {
                let path = series.map { "\(f(x($0.1))),\(f(y($0.2)))" }.joined(separator: " ")
                s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\"/>\n"
            }
            for (row, px, py) in series {
                let c = row.configuration
                if mode == .oracle {
                    s += "<rect x=\"\(f(x(px) - 4))\" y=\"\(f(y(py) - 4))\" width=\"8\" height=\"8\" fill=\"\(color)\"/>\n"
                } else {
                    s += "<circle cx=\"\(f(x(px)))\" cy=\"\(f(y(py)))\" r=\"4.5\" fill=\"\(color)\"/>\n"
                }
                let label = mode == .dense ? "dense" : String(format: "ffn %.2f / heads %.2f", c.ffnDensity, c.headDensity)
                s += "<text x=\"\(f(x(px) + 7))\" y=\"\(f(y(py) - 6))\" fill=\"\(color)\" font-size=\"10\">\(label)</text>\n"
            }
        }
        // Legend.
        let lx = left + plotW + 16
        for (i, (mode, color)) in styles.enumerated() {
            let ly = top + 14 + Double(i) * 20
            s += mode == .oracle
                ? "<rect x=\"\(f(lx))\" y=\"\(f(ly - 8))\" width=\"8\" height=\"8\" fill=\"\(color)\"/>\n"
                : "<circle cx=\"\(f(lx + 4))\" cy=\"\(f(ly - 4))\" r=\"4.5\" fill=\"\(color)\"/>\n"
            s += "<text x=\"\(f(lx + 14))\" y=\"\(f(ly))\">\(mode.rawValue)</text>\n"
        }
        return s + "</svg>\n"
    }

    static func niceCeiling(_ v: Double) -> Double {
        guard v > 0 else { return 1 }
        let step = pow(10, floor(log10(v)))
        return (v / step).rounded(.up) * step
    }

    static func niceFloor(_ v: Double) -> Double { v >= 0 ? 0 : -niceCeiling(-v) }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
