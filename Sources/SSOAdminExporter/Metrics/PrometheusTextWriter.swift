/// The kind of a metric family in the text exposition format.
public enum MetricType: String, Sendable {
    case gauge
    case counter
    case histogram
    case untyped
}

/// A metric family's name, type and help text: a Sendable stand-in for `MetricNameDescriptor`.
public struct MetricSpec: Sendable, Hashable {
    public let name: String
    public let type: MetricType
    public let help: String

    public init(_ name: String, _ type: MetricType, help: String) {
        self.name = name
        self.type = type
        self.help = help
    }
}

/// Appends metric families in the Prometheus text format (version 0.0.4) to a byte buffer.
///
/// Used for the per-collection snapshot, which is rebuilt from scratch on each scrape: writing it directly
/// avoids registering and unregistering thousands of series in a registry on every collection.
public struct PrometheusTextWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(reservingCapacity capacity: Int = 4096) {
        bytes.reserveCapacity(capacity)
    }

    /// Starts a family: the `# HELP` and `# TYPE` lines.
    public mutating func family(_ spec: MetricSpec, helpSuffix: String = "") {
        append("# HELP ")
        append(spec.name)
        bytes.append(UInt8(ascii: " "))
        appendEscaped(spec.help + helpSuffix, escapeQuotes: false)
        append("\n# TYPE ")
        append(spec.name)
        bytes.append(UInt8(ascii: " "))
        append(spec.type.rawValue)
        bytes.append(UInt8(ascii: "\n"))
    }

    /// One sample; `labels` are written in the order given, which callers keep fixed per family.
    public mutating func sample(_ name: String, labels: [(String, String)] = [], value: Double) {
        append(name)
        if !labels.isEmpty {
            bytes.append(UInt8(ascii: "{"))
            for (index, (label, labelValue)) in labels.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                append(label)
                append("=\"")
                appendEscaped(labelValue, escapeQuotes: true)
                bytes.append(UInt8(ascii: "\""))
            }
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: " "))
        append(Self.format(value))
        bytes.append(UInt8(ascii: "\n"))
    }

    /// Appends text produced elsewhere (the registry's families).
    public mutating func appendRaw(_ other: [UInt8]) {
        bytes.append(contentsOf: other)
    }

    /// Values as Prometheus writes them: integers without a fraction, `NaN`, `+Inf`, `-Inf`.
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    private mutating func append(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    /// Escapes `\`, newline and (in label values) `"`; HELP text keeps its quotes.
    private mutating func appendEscaped(_ text: String, escapeQuotes: Bool) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): append("\\\\")
            case UInt8(ascii: "\n"): append("\\n")
            case UInt8(ascii: "\""): if escapeQuotes { append("\\\"") } else { bytes.append(byte) }
            default: bytes.append(byte)
            }
        }
    }
}
