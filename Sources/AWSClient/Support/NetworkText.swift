import Synchronization

/// Makes text that came from the network, or that may quote a request, safe to log: bounded in length, one line,
/// and without anything that looks like a credential.
///
/// Every log line that quotes a response, an error from a peer or a URL goes through ``sanitized(_:limit:)``, so a
/// service that echoes request headers or returns a megabyte of error text cannot put secrets or noise in the logs.
public enum NetworkText {
    /// The longest quoted text a log line carries; longer text is cut with a marker.
    public static let defaultLimit = 512
    public static let redacted = "[REDACTED]"

    /// Header and parameter names whose values are secrets wherever they appear.
    static let secretMarkers: [String] = [
        "authorization", "x-amz-security-token", "x-amz-signature", "signature=", "credential=",
        "aws_secret_access_key", "aws_session_token", "secretaccesskey", "sessiontoken", "\"token\"",
    ]

    /// Text beyond the limit that is still scrubbed before cutting, so that a secret straddling the cut is redacted
    /// whole rather than leaving its first characters; longer than any session token.
    static let scrubbingMargin = 4096

    /// `text` with credentials redacted, cut to `limit` characters, and control characters replaced by spaces unless
    /// `keepingControlCharacters` (for writers that escape them).
    ///
    /// Only the first `limit` characters and a margin are scrubbed: scrubbing a megabyte of error text whole cost
    /// seconds of CPU, all of it thrown away by the cut.
    public static func sanitized(_ text: String, limit: Int = defaultLimit, keepingControlCharacters: Bool = false)
        -> String
    {
        let window =
            text.unicodeScalars.count > limit + scrubbingMargin
            ? String(text.unicodeScalars.prefix(limit + scrubbingMargin)) : text
        var result = redactKnownSecrets(in: window)
        result = redactMarkedValues(in: result)
        var scalars = String.UnicodeScalarView()
        var count = 0
        var truncated = false
        for scalar in result.unicodeScalars {
            if count == limit {
                truncated = true
                break
            }
            let isControl = scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value)
            scalars.append(isControl && !keepingControlCharacters ? " " : scalar)
            count += 1
        }
        var cut = String(scalars)
        if truncated { cut += "...(cut)" }
        return cut
    }

    /// Replaces every registered secret (access key IDs, secret keys, session tokens in use) with the marker.
    static func redactKnownSecrets(in text: String) -> String {
        var result = text
        for secret in SecretRegistry.shared.secrets where result.contains(secret) {
            result = result.replacing(secret, with: redacted)
        }
        return result
    }

    /// After a secret-bearing name (`Authorization: `, `Signature=`, `"Token": "`), replaces the value up to the
    /// next delimiter with the marker.
    static func redactMarkedValues(in text: String) -> String {
        let lowered = Array(text.lowercased().utf8)
        let original = Array(text.utf8)
        guard lowered.count == original.count else {
            // Lower-casing changed the byte length (rare scripts): drop the whole text rather than misalign.
            return secretMarkers.contains(where: { text.lowercased().contains($0) }) ? redacted : text
        }
        var output: [UInt8] = []
        output.reserveCapacity(original.count)
        var index = 0
        let markers = secretMarkers.map { Array($0.utf8) }
        outer: while index < original.count {
            for marker in markers where lowered[index...].starts(with: marker) {
                output.append(contentsOf: original[index..<index + marker.count])
                index += marker.count
                // The separator (`: `, `=`, `":"`, `>`, with quotes and spaces around it), then the value up to a
                // delimiter. Without a separator the name is a plain word ("without SecretAccessKey or
                // SessionToken") and what follows is not a secret.
                var separatorEnd = index
                // `signature=` and `credential=` carry their separator.
                var separated = marker.last == UInt8(ascii: "=")
                while separatorEnd < original.count,
                    [
                        UInt8(ascii: ":"), UInt8(ascii: "="), UInt8(ascii: ">"), UInt8(ascii: " "),
                        UInt8(ascii: "\""), UInt8(ascii: "'"),
                    ].contains(original[separatorEnd])
                {
                    if [UInt8(ascii: ":"), UInt8(ascii: "="), UInt8(ascii: ">")].contains(original[separatorEnd]) {
                        separated = true
                    }
                    separatorEnd += 1
                }
                guard separated else { continue outer }
                output.append(contentsOf: original[index..<separatorEnd])
                index = separatorEnd
                var valueEnd = index
                while valueEnd < original.count, !Self.isValueDelimiter(original[valueEnd]) { valueEnd += 1 }
                if valueEnd > index { output.append(contentsOf: Array(redacted.utf8)) }
                index = valueEnd
                continue outer
            }
            output.append(original[index])
            index += 1
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func isValueDelimiter(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") || byte == UInt8(ascii: ",")
            || byte == UInt8(ascii: "&")
            || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "}")
            || byte == UInt8(ascii: "<") || byte == UInt8(ascii: ";")
    }
}

/// The credentials this process currently signs with, so that ``NetworkText`` can redact them wherever they
/// appear. Only the most recent sets are kept.
public final class SecretRegistry: Sendable {
    public static let shared = SecretRegistry()
    static let maxSets = 8

    private let recent = Mutex<[[String]]>([])

    /// Remembers the key ID, secret key and session token of `credentials`.
    public func register(_ credentials: AWSCredentials) {
        let set = [credentials.accessKeyID, credentials.secretAccessKey, credentials.sessionToken]
            .compactMap { $0 }.filter { $0.count >= 8 }
        guard !set.isEmpty else { return }
        recent.withLock { sets in
            if sets.contains(set) { return }
            sets.append(set)
            if sets.count > Self.maxSets { sets.removeFirst() }
        }
    }

    var secrets: [String] { recent.withLock { $0.flatMap { $0 } } }
}
