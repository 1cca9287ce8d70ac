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
    var basicAuthUsers: [String: String]?
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
        var headers: [String: String]?

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

    /// The keys each mapping may hold, by its path; `nil` means any key (user names, header names checked later).
    static let knownKeys: [String: Set<String>?] = [
        "": Set(CodingKeys.allCases.map(\.rawValue)),
        "tls_server_config": Set(TLSServerConfig.CodingKeys.allCases.map(\.rawValue)),
        "http_server_config": Set(HTTPServerConfig.CodingKeys.allCases.map(\.rawValue)),
        "http_server_config.headers": nil,
        "basic_auth_users": nil,
        "rate_limit": Set(RateLimit.CodingKeys.allCases.map(\.rawValue)),
    ]

    /// Parses `text`, read from `path` (named in every error).
    static func parse(_ text: String, path: String) throws(WebConfigurationError) -> WebConfigurationFile {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw WebConfigurationError(
                path: path, line: error.markLine, key: nil, "not valid YAML: \(error.problemText)")
        } catch {
            throw WebConfigurationError(path: path, line: nil, key: nil, "not valid YAML")
        }
        guard let node else {
            // An empty file is the toolkit's "no TLS, no authentication"; say so rather than guess it was meant.
            throw WebConfigurationError(
                path: path, line: nil, key: nil, "the file is empty; remove --web.config.file to serve plain HTTP")
        }
        try checkKeys(node, path: "", file: path)
        do {
            return try YAMLDecoder().decode(WebConfigurationFile.self, from: node)
        } catch let error as DecodingError {
            throw WebConfigurationError(decoding: error, root: node, path: path)
        } catch {
            throw WebConfigurationError(path: path, line: nil, key: nil, "cannot be read: \(error)")
        }
    }

    /// Rejects keys the toolkit does not define, with their line.
    private static func checkKeys(_ node: Node, path: String, file: String) throws(WebConfigurationError) {
        guard case .mapping(let mapping) = node else {
            if path.isEmpty {
                throw WebConfigurationError(path: file, line: node.mark?.line, key: nil, "must be a mapping of keys")
            }
            return
        }
        let allowed = knownKeys[path] ?? nil
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else {
                throw WebConfigurationError(path: file, line: keyNode.mark?.line, key: path, "a key must be a string")
            }
            let childPath = path.isEmpty ? key : "\(path).\(key)"
            if let allowed, !allowed.contains(key) {
                throw WebConfigurationError(path: file, line: keyNode.mark?.line, key: childPath, "unknown key")
            }
            if knownKeys[childPath] != nil {
                guard case .mapping = value else {
                    if case .scalar(let scalar) = value, scalar.string.isEmpty || scalar.tag == .init(.null) {
                        continue
                    }
                    throw WebConfigurationError(
                        path: file, line: value.mark?.line ?? keyNode.mark?.line, key: childPath, "must be a mapping")
                }
                try checkKeys(value, path: childPath, file: file)
            }
        }
    }
}

/// A web configuration that cannot be used, naming the file, the line and the key where that is known.
public struct WebConfigurationError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let line: Int?
    public let key: String?
    public let problem: String

    init(path: String, line: Int?, key: String?, _ problem: String) {
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem
    }

    public var description: String {
        let location = line.map { "\(path):\($0)" } ?? path
        return key.map { "\(location): \($0): \(problem)" } ?? "\(location): \(problem)"
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
        var node: Node? = root
        for key in codingPath {
            if let index = key.intValue {
                node = node?.sequence.flatMap { index < $0.count ? $0[index] : nil }
            } else {
                node = node?.mapping?[key.stringValue]
            }
        }
        let keyPath = codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        self.init(
            path: path, line: node?.mark?.line, key: keyPath.hasPrefix(".") ? String(keyPath.dropFirst()) : keyPath,
            problem)
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
