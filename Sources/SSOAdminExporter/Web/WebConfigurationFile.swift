import Yams

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The exporter-toolkit web configuration file (`--web.config.file`) as written: the toolkit's keys, nothing more.
///
/// Decoding is strict: an unknown key, a value of the wrong type or an empty document is an error that names the
/// key and its line, so a typo cannot silently turn TLS or authentication off.
struct WebConfigurationFile: Decodable, Sendable {
    var tlsServerConfig: TLSServerConfig?
    var httpServerConfig: HTTPServerConfig?
    var basicAuthUsers: StrictYAML.StringMapping?
    var rateLimit: RateLimit?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case tlsServerConfig = "tls_server_config"
        case httpServerConfig = "http_server_config"
        case basicAuthUsers = "basic_auth_users"
        case rateLimit = "rate_limit"
    }

    struct TLSServerConfig: Decodable, Sendable {
        var cert: String?
        var key: String?
        var clientCA: String?
        var certFile: String?
        var keyFile: String?
        var clientAuthType: String?
        var clientCAFile: String?
        var clientAllowedSANs: [String]?
        var minVersion: String?
        var maxVersion: String?
        var cipherSuites: [String]?
        var preferServerCipherSuites: Bool?
        var curvePreferences: [String]?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case cert, key
            case clientCA = "client_ca"
            case certFile = "cert_file"
            case keyFile = "key_file"
            case clientAuthType = "client_auth_type"
            case clientCAFile = "client_ca_file"
            case clientAllowedSANs = "client_allowed_sans"
            case minVersion = "min_version"
            case maxVersion = "max_version"
            case cipherSuites = "cipher_suites"
            case preferServerCipherSuites = "prefer_server_cipher_suites"
            case curvePreferences = "curve_preferences"
        }
    }

    struct HTTPServerConfig: Decodable, Sendable {
        var http2: Bool?
        var headers: StrictYAML.StringMapping?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case http2, headers
        }
    }

    struct RateLimit: Decodable, Sendable {
        var interval: String?
        var burst: Int?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case interval, burst
        }
    }

    /// What each mapping may hold; user names and header names are any keys, checked after decoding.
    static let schema = StrictYAML.Schema.mapping([
        "tls_server_config": .mapping(keys(TLSServerConfig.CodingKeys.self)),
        "http_server_config": .mapping(["http2": .value, "headers": .anyMapping]),
        "basic_auth_users": .anyMapping,
        "rate_limit": .mapping(keys(RateLimit.CodingKeys.self)),
    ])

    private static func keys<Key: CodingKey & CaseIterable>(_: Key.Type) -> [String: StrictYAML.Schema] {
        Dictionary(Key.allCases.map { ($0.stringValue, .value) }, uniquingKeysWith: { first, _ in first })
    }

    /// Parses `text`, read from `path` (named in every error).
    static func parse(_ text: String, path: String) throws(WebConfigurationError) -> WebConfigurationFile {
        let document: StrictYAML.Document
        do throws(ConfigFileError) {
            document = try StrictYAML.compose(text, path: path, schema: schema)
            if let first = document.problems.first { throw first }
        } catch {
            // An empty file is the toolkit's "no TLS, no authentication"; say so rather than guess it was meant.
            let problem =
                error.problem == StrictYAML.emptyFile
                ? "the file is empty; remove --web.config.file to serve plain HTTP" : error.problem
            throw WebConfigurationError(path: path, line: error.line, key: error.key, problem)
        }
        do {
            return try document.decode(WebConfigurationFile.self)
        } catch let error as DecodingError {
            throw WebConfigurationError(decoding: error, root: document.root, path: path)
        } catch {
            throw WebConfigurationError(path: path, line: nil, key: nil, "cannot be read: \(error)")
        }
    }
}

/// A web configuration that cannot be used, naming the file, the line and the key where that is known.
package struct WebConfigurationError: Error, CustomStringConvertible, Sendable {
    package let path: String
    package let line: Int?
    package let key: String?
    package let problem: String

    init(path: String, line: Int?, key: String?, _ problem: String) {
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem
    }

    /// One line, quoting at most a short excerpt of the key and the problem, with control characters escaped.
    package var description: String {
        ConfigurationText.line(path: path, line: line, key: key, problem: problem)
    }

    /// A decoding error with the key path it happened at and that node's line.
    init(decoding error: DecodingError, root: Node, path: String) {
        let (codingPath, problem): ([any CodingKey], String) =
            switch error {
            case .typeMismatch(let type, let context): (context.codingPath, "must be \(Self.describe(type))")
            case .valueNotFound(let type, let context): (context.codingPath, "must be \(Self.describe(type))")
            case .keyNotFound(let key, let context): (context.codingPath + [key], "is required")
            case .dataCorrupted(let context): (context.codingPath, "has a value that cannot be read")
            @unknown default: ([], "cannot be read")
            }
        // The line of the deepest node that exists: a required key that is missing is reported at its mapping.
        var node: Node? = root
        var line = root.mark?.line
        for key in codingPath {
            if let index = key.intValue {
                node = node?.sequence.flatMap { index < $0.count ? $0[index] : nil }
            } else {
                node = node?.mapping?[key.stringValue]
            }
            line = node?.mark?.line ?? line
        }
        let keyPath = codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        self.init(
            path: path, line: line, key: keyPath.hasPrefix(".") ? String(keyPath.dropFirst()) : keyPath, problem)
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type: "an integer"
        case is [String].Type: "a list of strings"
        case is [String: String].Type: "a mapping of strings"
        case is Node.Scalar.Type: "a single value, not a list or a mapping"
        default: "a \(type)"
        }
    }
}
