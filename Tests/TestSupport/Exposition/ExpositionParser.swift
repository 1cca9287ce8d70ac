/// One sample of a parsed exposition.
public struct ParsedSample: Sendable, Equatable {
    public let name: String
    public let labels: [String: String]
    public let value: Double
}

/// A parsed text exposition: families' HELP and TYPE, and every sample.
public struct ParsedExposition: Sendable {
    public var help: [String: String] = [:]
    public var types: [String: String] = [:]
    public var samples: [ParsedSample] = []

    /// Samples of `name` whose labels include every pair in `matching`.
    public func samples(_ name: String, _ matching: [String: String] = [:]) -> [ParsedSample] {
        samples.filter { sample in
            sample.name == name && matching.allSatisfy { sample.labels[$0.key] == $0.value }
        }
    }

    /// The value of the one sample that matches, or nil when there is none or more than one.
    public func value(_ name: String, _ matching: [String: String] = [:]) -> Double? {
        let found = samples(name, matching)
        return found.count == 1 ? found[0].value : nil
    }
}

public struct ExpositionParseError: Error, CustomStringConvertible {
    public let line: Int
    public let message: String
    public var description: String { "line \(line): \(message)" }
}

/// A strict parser for the Prometheus text format 0.0.4, written independently of the exporter's writer so
/// tests check what a scraper would read, never the raw text.
public enum ExpositionParser {
    public static func parse(_ text: String) throws -> ParsedExposition {
        var result = ParsedExposition()
        var seenSeries: Set<String> = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            if line.isEmpty { continue }
            if line.hasPrefix("# HELP ") {
                let rest = line.dropFirst(7)
                guard let space = rest.firstIndex(of: " ") else {
                    throw ExpositionParseError(line: number, message: "HELP without text")
                }
                let name = String(rest[..<space])
                guard result.help[name] == nil else {
                    throw ExpositionParseError(line: number, message: "second HELP for \(name)")
                }
                result.help[name] = unescape(rest[rest.index(after: space)...], quotes: false)
                continue
            }
            if line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ")
                guard parts.count == 2 else { throw ExpositionParseError(line: number, message: "bad TYPE line") }
                guard result.types[String(parts[0])] == nil else {
                    throw ExpositionParseError(line: number, message: "second TYPE for \(parts[0])")
                }
                result.types[String(parts[0])] = String(parts[1])
                continue
            }
            if line.hasPrefix("#") { continue }
            let sample = try parseSample(line, number: number)
            let key =
                sample.name + "{"
                + sample.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                .joined(separator: ",") + "}"
            guard seenSeries.insert(key).inserted else {
                throw ExpositionParseError(line: number, message: "duplicate series \(key)")
            }
            result.samples.append(sample)
        }
        return result
    }

    static func parseSample(_ line: Substring, number: Int) throws -> ParsedSample {
        let scalars = Array(line.unicodeScalars)
        var index = 0
        var name = ""
        while index < scalars.count, isNameCharacter(scalars[index], first: name.isEmpty) {
            name.unicodeScalars.append(scalars[index])
            index += 1
        }
        guard !name.isEmpty else { throw ExpositionParseError(line: number, message: "no metric name") }
        var labels: [String: String] = [:]
        if index < scalars.count, scalars[index] == "{" {
            index += 1
            while index < scalars.count, scalars[index] != "}" {
                var label = ""
                while index < scalars.count, isNameCharacter(scalars[index], first: label.isEmpty),
                    scalars[index] != ":"
                {
                    label.unicodeScalars.append(scalars[index])
                    index += 1
                }
                guard index + 1 < scalars.count, scalars[index] == "=", scalars[index + 1] == "\"" else {
                    throw ExpositionParseError(line: number, message: "bad label in \(line)")
                }
                index += 2
                var value = ""
                while index < scalars.count, scalars[index] != "\"" {
                    if scalars[index] == "\\", index + 1 < scalars.count {
                        switch scalars[index + 1] {
                        case "n": value.append("\n")
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        default: throw ExpositionParseError(line: number, message: "bad escape in \(line)")
                        }
                        index += 2
                    } else {
                        value.unicodeScalars.append(scalars[index])
                        index += 1
                    }
                }
                guard index < scalars.count else { throw ExpositionParseError(line: number, message: "unclosed value") }
                index += 1
                guard labels.updateValue(value, forKey: label) == nil else {
                    throw ExpositionParseError(line: number, message: "repeated label \(label)")
                }
                if index < scalars.count, scalars[index] == "," { index += 1 }
            }
            guard index < scalars.count else { throw ExpositionParseError(line: number, message: "unclosed labels") }
            index += 1
        }
        guard index < scalars.count, scalars[index] == " " else {
            throw ExpositionParseError(line: number, message: "no space before value in \(line)")
        }
        var rest = String(String.UnicodeScalarView(scalars[(index + 1)...]))
        if let space = rest.firstIndex(of: " ") { rest = String(rest[..<space]) }  // optional timestamp
        let value: Double?
        switch rest {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default: value = Double(rest)
        }
        guard let value else { throw ExpositionParseError(line: number, message: "bad value \(rest)") }
        return ParsedSample(name: name, labels: labels, value: value)
    }

    static func isNameCharacter(_ scalar: Unicode.Scalar, first: Bool) -> Bool {
        if ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || scalar == "_" || scalar == ":" {
            return true
        }
        return !first && ("0"..."9").contains(scalar)
    }

    static func unescape(_ text: Substring, quotes: Bool) -> String {
        var out = ""
        var iterator = text.unicodeScalars.makeIterator()
        while let scalar = iterator.next() {
            guard scalar == "\\" else {
                out.unicodeScalars.append(scalar)
                continue
            }
            switch iterator.next() {
            case "n": out.append("\n")
            case "\\": out.append("\\")
            case let other?:
                out.append("\\")
                out.unicodeScalars.append(other)
            case nil: out.append("\\")
            }
        }
        return out
    }
}
