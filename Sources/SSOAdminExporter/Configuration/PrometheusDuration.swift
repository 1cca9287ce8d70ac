import ArgumentParser

/// A duration written the Prometheus way: `500ms`, `10s`, `1m30s`, `2h`, or `0`.
package struct PrometheusDuration: Sendable, Hashable, ExpressibleByArgument, CustomStringConvertible {
    package let duration: Duration
    private let text: String

    package init(_ duration: Duration, text: String) {
        self.duration = duration
        self.text = text
    }

    package init?(argument: String) {
        guard let duration = Self.parse(argument) else { return nil }
        self.init(duration, text: argument)
    }

    /// For `@Option(transform:)`: unlike `init?(argument:)`, a value that is not a duration says what one looks
    /// like (`10` alone has no unit), which swift-argument-parser appends to its "The value '10' is invalid".
    package static func argument(_ text: String) throws -> PrometheusDuration {
        guard let duration = parse(text) else { throw InvalidDuration(text: text) }
        return PrometheusDuration(duration, text: text)
    }

    struct InvalidDuration: Error, CustomStringConvertible {
        let text: String
        var description: String {
            let hint =
                (1...12).contains(text.count) && text.allSatisfy({ $0.isASCII && $0.isNumber })
                ? "a duration needs a unit, such as \(text)s; "
                : ""
            return "\(hint)give a duration such as 500ms, 10s, 1m30s or 2h (units ms, s, m, h, d, w, y, largest first)"
        }
    }

    package var description: String { text }
    package var defaultValueDescription: String { text }

    static let units: [(String, Int64)] = [
        ("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000),
        ("d", 86_400_000_000_000), ("w", 604_800_000_000_000), ("y", 31_536_000_000_000_000),
    ]

    /// Parses a sequence of `<integer><unit>` terms, largest unit first as Prometheus requires.
    package static func parse(_ text: String) -> Duration? {
        if text == "0" { return .zero }
        var rest = Substring(text)
        var total: Int64 = 0
        var lastUnitSize = Int64.max
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count <= 12, let number = Int64(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            let unitText = rest.prefix { $0.isASCII && $0.isLetter }
            guard let unit = units.first(where: { $0.0 == unitText }), unit.1 < lastUnitSize else { return nil }
            rest = rest.dropFirst(unitText.count)
            let (product, overflow) = number.multipliedReportingOverflow(by: unit.1)
            guard !overflow else { return nil }
            let (sum, sumOverflow) = total.addingReportingOverflow(product)
            guard !sumOverflow else { return nil }
            total = sum
            lastUnitSize = unit.1
        }
        return .nanoseconds(total)
    }
}
