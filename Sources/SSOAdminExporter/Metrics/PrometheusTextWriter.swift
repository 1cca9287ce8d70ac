/// The kind of a metric family in the text exposition format.
package enum MetricType: String, Sendable {
    case gauge
    case counter
    case histogram
}

/// A metric family's name, type and help text: a Sendable stand-in for `MetricNameDescriptor`.
package struct MetricSpec: Sendable, Hashable {
    package let name: String
    package let type: MetricType
    package let help: String

    package init(_ name: String, _ type: MetricType, help: String) {
        self.name = name
        self.type = type
        self.help = help
    }
}

/// Label pairs already escaped for the text format, so a series group (one instance's samples) encodes its
/// shared labels once and every sample reuses the bytes.
package struct EncodedLabels: Sendable {
    /// `name="value"` pairs joined by commas, without braces.
    package private(set) var bytes: [UInt8] = []

    package init(_ pairs: [(String, String)] = []) {
        for (name, value) in pairs { append(name, value) }
    }

    package mutating func append(_ name: String, _ value: String) {
        if !bytes.isEmpty { bytes.append(UInt8(ascii: ",")) }
        bytes.append(contentsOf: name.utf8)
        bytes.append(UInt8(ascii: "="))
        bytes.append(UInt8(ascii: "\""))
        PrometheusTextWriter.appendEscaped(value, to: &bytes, escapeQuotes: true)
        bytes.append(UInt8(ascii: "\""))
    }

    var bytesAsString: String { String(decoding: bytes, as: UTF8.self) }

    package func appending(_ name: String, _ value: String) -> EncodedLabels {
        var copy = self
        copy.append(name, value)
        return copy
    }
}

/// Appends metric families in the Prometheus text format (version 0.0.4) to a byte buffer.
///
/// Used for the per-collection snapshot, which is rebuilt from scratch on each scrape: writing it directly
/// avoids registering and unregistering thousands of series in a registry on every collection.
package struct PrometheusTextWriter: Sendable {
    package private(set) var bytes: [UInt8] = []

    package init(reservingCapacity capacity: Int = 4096) {
        bytes.reserveCapacity(capacity)
    }

    /// Empties the text once it has been sent, keeping the memory for the next piece.
    package mutating func clear() {
        bytes.removeAll(keepingCapacity: true)
    }

    /// Starts a family: the `# HELP` and `# TYPE` lines.
    package mutating func family(_ spec: MetricSpec, helpSuffix: String = "") {
        bytes.append(contentsOf: "# HELP ".utf8)
        bytes.append(contentsOf: spec.name.utf8)
        bytes.append(UInt8(ascii: " "))
        Self.appendEscaped(spec.help + helpSuffix, to: &bytes, escapeQuotes: false)
        bytes.append(contentsOf: "\n# TYPE ".utf8)
        bytes.append(contentsOf: spec.name.utf8)
        bytes.append(UInt8(ascii: " "))
        bytes.append(contentsOf: spec.type.rawValue.utf8)
        bytes.append(UInt8(ascii: "\n"))
    }

    /// One sample; `labels` are written in the order given, which callers keep fixed per family.
    package mutating func sample(_ name: String, labels: [(String, String)] = [], value: Double) {
        sample(name, EncodedLabels(labels), value: value)
    }

    /// One sample with labels encoded beforehand; `more` follows `labels` (shared prefix, then per-sample labels).
    package mutating func sample(_ name: String, _ labels: EncodedLabels, _ more: EncodedLabels? = nil, value: Double) {
        bytes.append(contentsOf: name.utf8)
        let extra = more?.bytes ?? []
        if !labels.bytes.isEmpty || !extra.isEmpty {
            bytes.append(UInt8(ascii: "{"))
            bytes.append(contentsOf: labels.bytes)
            if !labels.bytes.isEmpty, !extra.isEmpty { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: extra)
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: " "))
        Self.appendValue(value, to: &bytes)
        bytes.append(UInt8(ascii: "\n"))
    }

    /// A state-set sample from parts encoded beforehand: `prefix` is `name{`, `labels` the shared labels and `tail`
    /// the rest of the line (`,status="ACTIVE"} 1` and the newline). Three copies instead of a dozen appends is what
    /// keeps 10,000 instances cheap to render.
    package mutating func sampleLine(prefix: [UInt8], labels: EncodedLabels, tail: [UInt8]) {
        bytes.append(contentsOf: prefix)
        bytes.append(contentsOf: labels.bytes)
        bytes.append(contentsOf: tail)
    }

    /// Values as Prometheus writes them: integers without a fraction, `NaN`, `+Inf`, `-Inf`.
    package static func format(_ value: Double) -> String {
        var out: [UInt8] = []
        appendValue(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func appendValue(_ value: Double, to out: inout [UInt8]) {
        if value.isNaN {
            out.append(contentsOf: "NaN".utf8)
        } else if value.isInfinite {
            out.append(contentsOf: (value > 0 ? "+Inf" : "-Inf").utf8)
        } else if value == value.rounded(), abs(value) < 1e15 {
            appendInteger(Int64(value), to: &out)
        } else {
            out.append(contentsOf: String(value).utf8)
        }
    }

    /// Integer digits without going through a `String`: most snapshot values are 0, 1 or a count.
    static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        if magnitude < 10 {
            out.append(UInt8(ascii: "0") + UInt8(magnitude))
            return
        }
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            while magnitude > 0 {
                buffer[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            }
            for index in stride(from: count - 1, through: 0, by: -1) { out.append(buffer[index]) }
        }
    }

    /// Escapes `\`, newline and (in label values) `"`; HELP text keeps its quotes.
    static func appendEscaped(_ text: String, to out: inout [UInt8], escapeQuotes: Bool) {
        let needsEscaping = text.utf8.contains { byte in
            byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\n") || (escapeQuotes && byte == UInt8(ascii: "\""))
        }
        guard needsEscaping else {
            out.append(contentsOf: text.utf8)
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\"") where escapeQuotes:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            default: out.append(byte)
            }
        }
    }
}
