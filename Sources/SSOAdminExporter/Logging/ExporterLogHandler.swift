import AWSClient
import Logging

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// `--log.format`: logfmt (the Prometheus ecosystem's default) or one JSON object per line.
package enum LogFormat: String, Sendable, CaseIterable {
    case logfmt
    case json
}

/// Writes one line per event to standard error in logfmt or JSON, as Prometheus exporters do.
package struct ExporterLogHandler: LogHandler {
    package var logLevel: Logger.Level
    package var metadata: Logger.Metadata = [:]
    package let label: String
    package let format: LogFormat
    private let emit: @Sendable (String) -> Void

    package init(
        label: String,
        level: Logger.Level,
        format: LogFormat,
        write: @escaping @Sendable (String) -> Void = ExporterLogHandler.writeToStandardError
    ) {
        self.label = label
        self.logLevel = level
        self.format = format
        self.emit = write
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// The longest value a log field carries.
    package static let maxValueLength = 2048

    package func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("ts", Self.timestamp(Date())),
            ("level", Self.levelName(event.level)),
            ("msg", event.message.description),
        ]
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            // Values quote errors, URLs and responses from the network: bounded and scrubbed of credentials here,
            // in the one place every line passes.
            fields.append(
                (
                    key,
                    NetworkText.sanitized(
                        Self.flatten(value), limit: Self.maxValueLength, keepingControlCharacters: true)
                ))
        }
        emit(format == .json ? Self.json(fields) : Self.logfmt(fields))
    }

    package static let writeToStandardError: @Sendable (String) -> Void = { line in
        // Straight to the descriptor: one write(2) per line keeps lines whole when several threads log.
        var bytes = Array((line + "\n").utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
    }

    static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace, .debug: "debug"
        case .info, .notice: "info"
        case .warning: "warn"
        case .error, .critical: "error"
        }
    }

    static func flatten(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): "[" + values.map(flatten).joined(separator: ",") + "]"
        case .dictionary(let dictionary):
            "{" + dictionary.sorted { $0.key < $1.key }.map { "\($0.key)=\(flatten($0.value))" }.joined(separator: ",")
                + "}"
        }
    }

    static func logfmt(_ fields: [(String, String)]) -> String {
        fields.map { key, value in
            let needsQuotes = value.isEmpty || value.contains { $0 == " " || $0 == "=" || $0 == "\"" || $0.isNewline }
            guard needsQuotes else { return "\(key)=\(value)" }
            let escaped = value.replacing("\\", with: "\\\\")
                .replacing("\"", with: "\\\"")
                .replacing("\n", with: "\\n")
            return "\(key)=\"\(escaped)\""
        }.joined(separator: " ")
    }

    static func json(_ fields: [(String, String)]) -> String {
        "{"
            + fields.map { "\(JSONStringLiteral.encode($0.0)):\(JSONStringLiteral.encode($0.1))" }.joined(
                separator: ",") + "}"
    }

    static func timestamp(_ date: Date) -> String {
        UTCTimestamp.extendedWithMilliseconds(date)
    }
}
