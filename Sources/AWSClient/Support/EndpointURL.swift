#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Checks a URL that names somewhere to connect to, before anything connects: scheme, host and port.
///
/// Foundation accepts URLs that the HTTP stack cannot use (a port above 65535 traps deep in NIO; a space in the
/// host is percent-encoded), so every URL from a flag, a variable or a file goes through here and fails with a
/// message that names where it came from.
public enum EndpointURL {
    /// The parsed URL, or an ``AWSConfigurationError`` naming `source`.
    /// - Parameter quoting: whether messages may quote the value (not for a proxy URL that may hold a password).
    public static func parse(
        _ text: String, source: String, schemes: Set<String> = ["http", "https"], quoting: Bool = true
    ) throws -> URL {
        let shown = quoting ? NetworkText.sanitized(text, limit: 200) : "(value not shown)"
        guard !text.contains(where: { $0.isWhitespace || $0.isNewline }) else {
            throw AWSConfigurationError("\(source): \"\(shown)\" contains white space")
        }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), schemes.contains(scheme) else {
            let list = schemes.sorted().map { "\($0)://" }.joined(separator: " or ")
            throw AWSConfigurationError("\(source): \"\(shown)\" is not a \(list) URL")
        }
        try check(url, source: source, shown: shown)
        return url
    }

    /// The `Host` header for `url`: IPv6 addresses in brackets, the port only when it is not the scheme's default.
    public static func hostHeader(of url: URL) -> String {
        let host = url.host ?? ""
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        guard let port = url.port,
            !((url.scheme?.lowercased() == "https" && port == 443)
                || (url.scheme?.lowercased() == "http" && port == 80))
        else { return bracketed }
        return "\(bracketed):\(port)"
    }

    /// Why `url` cannot be connected to, or `nil` when it can: for values that reach the transport without
    /// passing through ``parse(_:source:schemes:)``.
    public static func problem(with url: URL) -> String? {
        do {
            try check(url, source: "URL", shown: NetworkText.sanitized(url.absoluteString, limit: 200))
            return nil
        } catch let error as AWSConfigurationError {
            return error.message
        } catch {
            return String(describing: error)
        }
    }

    /// `shown` is only made for an error: scrubbing the URL of every request cost a seventh of the CPU per call.
    static func check(_ url: URL, source: String, shown makeShown: @autoclosure () -> String) throws {
        guard let host = url.host, !host.isEmpty else {
            throw AWSConfigurationError("\(source): \"\(makeShown())\" has no host")
        }
        guard !host.contains(where: { $0.isWhitespace || $0 == "%" || $0 == "\\" }) else {
            throw AWSConfigurationError("\(source): \"\(makeShown())\" has an invalid host")
        }
        if let port = url.port, !(1...65535).contains(port) {
            throw AWSConfigurationError("\(source): port \(port) in \"\(makeShown())\" is outside 1-65535")
        }
        // URL drops a port it cannot read ("host:99999999999999999999", "host:abc"): catch it from the text.
        if url.port == nil, let authority = authority(of: url.absoluteString), let colon = authority.lastIndex(of: ":"),
            !authority[authority.index(after: colon)...].contains("]")
        {
            let portText = authority[authority.index(after: colon)...]
            if !portText.isEmpty {
                throw AWSConfigurationError(
                    "\(source): port \"\(portText)\" in \"\(makeShown())\" is not a number 1-65535")
            }
        }
    }

    /// `host[:port]` of an absolute URL, without user info.
    private static func authority(of text: String) -> Substring? {
        guard let schemeEnd = text.firstRange(of: "://") else { return nil }
        let rest = text[schemeEnd.upperBound...]
        let end = rest.firstIndex { "/?#".contains($0) } ?? rest.endIndex
        let authority = rest[..<end]
        if let at = authority.lastIndex(of: "@") { return authority[authority.index(after: at)...] }
        return authority
    }
}
