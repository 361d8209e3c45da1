import PVE2NixCore

/// Escaping and small builders for the report's HTML and SVG. Every text from a capture (names,
/// hooks, comments) goes through `escape`: a guest named `<script>` shows as text.
enum HTML {
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\n", "\t": out.unicodeScalars.append(scalar)
            // Control characters are not allowed in HTML text: show them as the replacement character.
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value): out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// `text` cut to `limit` characters with an ellipsis, for a box of fixed width.
    static func clip(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(max(1, limit - 1))) + "…"
    }

    /// A table with a header row; cells are HTML already escaped by the caller.
    static func table(_ headers: [String], _ rows: [[String]], caption: String? = nil, classes: [String?] = []) -> String {
        var out = "<table>"
        if let caption { out += "<caption>\(escape(caption))</caption>" }
        out += "<thead><tr>" + headers.map { "<th scope=\"col\">\(escape($0))</th>" }.joined() + "</tr></thead><tbody>"
        for (i, row) in rows.enumerated() {
            let cls = i < classes.count ? classes[i].map { " class=\"\($0)\"" } ?? "" : ""
            out += "<tr\(cls)>" + row.map { "<td>\($0)</td>" }.joined() + "</tr>"
        }
        return out + "</tbody></table>"
    }

    /// A number for an SVG attribute.
    static func n(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }

    /// An SVG text element (selectable, and read by screen readers).
    static func svgText(_ x: Double, _ y: Double, _ text: String, cls: String? = nil, anchor: String? = nil) -> String {
        "<text x=\"\(n(x))\" y=\"\(n(y))\"\(cls.map { " class=\"\($0)\"" } ?? "")\(anchor.map { " text-anchor=\"\($0)\"" } ?? "")>\(escape(text))</text>"
    }

    /// A status badge: colour plus the word, so it reads without colour too.
    static func badge(_ word: String, _ cls: String) -> String { "<span class=\"badge \(cls)\">\(escape(word))</span>" }
}

/// Monospace text width in the report's SVGs (12 px DejaVu Sans Mono / ui-monospace).
enum SVGMetrics {
    static let charWidth = 7.3
    static let lineHeight = 15.0
    static func width(_ text: String) -> Double { Double(text.count) * charWidth }
}
