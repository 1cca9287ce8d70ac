import HTTPTypes
import NIOSSL

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The settings of `--web.config.file` (the Prometheus exporter-toolkit's format), checked and ready to serve:
/// TLS with an optional client certificate policy, basic authentication, response headers and a rate limit.
package struct WebConfiguration: Sendable {
    /// The file these settings came from.
    package let path: String
    /// TLS, or `nil` for plain HTTP.
    package let tls: TLSSettings?
    /// User name to bcrypt hash; empty when no authentication is required.
    package let basicAuthUsers: [String: String]
    /// Headers added to every response.
    package let headers: HTTPFields
    package let rateLimit: RateLimit?
    /// This file and the certificate and key files it names: what the reloader watches for changes.
    let watchedFiles: [String]

    /// TLS for new connections: the server certificate and the client certificate policy.
    package struct TLSSettings: Sendable {
        package let context: NIOSSLContext
        package let clientAuth: ClientAuth
        /// Subject alternative names a client certificate must have one of; empty allows any.
        package let allowedSANs: Set<String>
    }

    /// The toolkit's `client_auth_type` values, which are Go's `tls.ClientAuthType` names.
    package enum ClientAuth: String, Sendable, CaseIterable {
        case noClientCert = "NoClientCert"
        case requestClientCert = "RequestClientCert"
        case requireAnyClientCert = "RequireAnyClientCert"
        case verifyClientCertIfGiven = "VerifyClientCertIfGiven"
        case requireAndVerifyClientCert = "RequireAndVerifyClientCert"

        /// Whether a certificate, when given, is checked against `client_ca_file`.
        var verifies: Bool { self == .verifyClientCertIfGiven || self == .requireAndVerifyClientCert }
        /// Whether a client without a certificate is refused.
        var requires: Bool { self == .requireAnyClientCert || self == .requireAndVerifyClientCert }
    }

    /// The toolkit's token bucket: one request per `interval`, `burst` at once.
    package struct RateLimit: Sendable, Equatable {
        package let interval: Duration
        package let burst: Int
    }

    /// The response headers the toolkit lets a web configuration set, with the values it accepts (`nil`: any).
    static let allowedHeaders: [String: Set<String>?] = [
        "Content-Security-Policy": nil,
        "X-Frame-Options": ["deny", "sameorigin"],
        "X-Content-Type-Options": ["nosniff"],
        "X-XSS-Protection": nil,
        "Strict-Transport-Security": nil,
    ]

    /// What is switched on, for the startup log and `--web.config.check`.
    package var summary: String {
        var parts: [String] = []
        if let tls {
            parts.append("TLS, client certificates: \(tls.clientAuth.rawValue)")
        } else {
            parts.append("plain HTTP")
        }
        parts.append(
            basicAuthUsers.isEmpty
                ? "no basic authentication" : "basic authentication for \(basicAuthUsers.count) user(s)")
        if let rateLimit { parts.append("rate limit \(rateLimit.burst) then 1 per \(rateLimit.interval)") }
        if !headers.isEmpty { parts.append("\(headers.count) response header(s)") }
        return parts.joined(separator: ", ")
    }

    /// Reads and checks the file at `path`, and every certificate and key file it names (relative paths are resolved
    /// from the file's folder, as the toolkit does).
    package static func load(path: String) throws(WebConfigurationError) -> WebConfiguration {
        var namedFiles: [String] = []
        return try load(path: path, namedFiles: &namedFiles)
    }

    /// ``load(path:)``, telling in `namedFiles` which certificate and key files the file names as soon as it is
    /// parsed, so that the reloader watches them even when one of them fails to load.
    static func load(path: String, namedFiles: inout [String]) throws(WebConfigurationError) -> WebConfiguration {
        let bytes = try read(path, for: path, key: nil)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw WebConfigurationError(path: path, line: nil, key: nil, "is not UTF-8 text")
        }
        let file = try WebConfigurationFile.parse(text, path: path)
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        func resolve(_ name: String) -> String {
            name.hasPrefix("/") ? name : folder.appendingPathComponent(name).path
        }
        let server = file.tlsServerConfig
        namedFiles = [server?.certFile, server?.keyFile, server?.clientCAFile].compactMap { name in
            name.flatMap { $0.isEmpty ? nil : resolve($0) }
        }

        var tls: TLSSettings?
        if let server = file.tlsServerConfig {
            tls = try makeTLS(server, path: path, resolve: resolve)
        }
        var headers = HTTPFields()
        for (name, value) in (file.httpServerConfig?.headers?.entries ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let canonical = allowedHeaders.keys.first(where: { $0.lowercased() == name.lowercased() }) else {
                throw WebConfigurationError(
                    path: path, line: nil, key: "http_server_config.headers.\(name)",
                    "this header cannot be set; allowed: \(allowedHeaders.keys.sorted().joined(separator: ", "))")
            }
            if value.isEmpty { continue }
            if let accepted = allowedHeaders[canonical] ?? nil, !accepted.contains(value.lowercased()) {
                throw WebConfigurationError(
                    path: path, line: nil, key: "http_server_config.headers.\(name)",
                    "must be one of \(accepted.sorted().joined(separator: ", "))")
            }
            guard let fieldName = HTTPField.Name(canonical), value.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else {
                throw WebConfigurationError(
                    path: path, line: nil, key: "http_server_config.headers.\(name)", "has a control character")
            }
            headers[fieldName] = value
        }
        let users = file.basicAuthUsers?.entries ?? [:]
        for (user, hash) in users where !BasicAuthenticator.isBcryptHash(hash) {
            throw WebConfigurationError(
                path: path, line: nil, key: "basic_auth_users.\(user)",
                "is not a bcrypt hash (\"$2a$\", \"$2b$\" or \"$2y$\", a cost and 53 characters); "
                    + "make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n'")
        }
        var rateLimit: RateLimit?
        if let limit = file.rateLimit {
            guard let text = limit.interval, let interval = PrometheusDuration.parse(text) else {
                throw WebConfigurationError(
                    path: path, line: nil, key: "rate_limit.interval", "must be a duration such as 1s or 100ms")
            }
            let burst = limit.burst ?? 0
            guard burst >= 0 else {
                throw WebConfigurationError(path: path, line: nil, key: "rate_limit.burst", "must not be negative")
            }
            // The toolkit's rule: an interval of 0 switches the limiter off.
            if interval > .zero { rateLimit = RateLimit(interval: interval, burst: max(1, burst)) }
        }
        return WebConfiguration(
            path: path, tls: tls, basicAuthUsers: users, headers: headers, rateLimit: rateLimit,
            watchedFiles: [path] + namedFiles)
    }

    private static func makeTLS(
        _ server: WebConfigurationFile.TLSServerConfig,
        path: String,
        resolve: (String) -> String
    ) throws(WebConfigurationError) -> TLSSettings {
        func fail(_ key: String, _ problem: String) -> WebConfigurationError {
            WebConfigurationError(path: path, line: nil, key: "tls_server_config.\(key)", problem)
        }
        func material(inline: String?, file: String?, inlineKey: String, fileKey: String) throws(WebConfigurationError)
            -> [UInt8]?
        {
            switch (inline.flatMap { $0.isEmpty ? nil : $0 }, file.flatMap { $0.isEmpty ? nil : $0 }) {
            case (.some, .some): throw fail(fileKey, "give either \(inlineKey) or \(fileKey), not both")
            case (.some(let text), nil): return Array(text.utf8)
            case (nil, .some(let name)):
                return try read(resolve(name), for: path, key: "tls_server_config.\(fileKey)")
            case (nil, nil): return nil
            }
        }
        let certificateBytes = try material(
            inline: server.cert, file: server.certFile, inlineKey: "cert", fileKey: "cert_file")
        let keyBytes = try material(inline: server.key, file: server.keyFile, inlineKey: "key", fileKey: "key_file")
        guard let certificateBytes else { throw fail("cert_file", "is required for TLS (or cert, inline)") }
        guard let keyBytes else { throw fail("key_file", "is required with a certificate (or key, inline)") }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(certificateBytes)
        } catch {
            throw fail(server.certFile != nil ? "cert_file" : "cert", "is not a PEM certificate")
        }
        guard !chain.isEmpty else {
            throw fail(server.certFile != nil ? "cert_file" : "cert", "holds no PEM certificate")
        }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(bytes: keyBytes, format: .pem)
        } catch {
            // Never quote the key's contents.
            throw fail(server.keyFile != nil ? "key_file" : "key", "is not a PEM private key (or is encrypted)")
        }

        let clientAuthName = server.clientAuthType.flatMap { $0.isEmpty ? nil : $0 } ?? ClientAuth.noClientCert.rawValue
        guard let clientAuth = ClientAuth(rawValue: clientAuthName) else {
            throw fail(
                "client_auth_type",
                "unknown value \(ConfigurationText.excerpted(clientAuthName)); use one of "
                    + ClientAuth.allCases.map(\.rawValue).joined(separator: ", "))
        }
        let caBytes = try material(
            inline: server.clientCA, file: server.clientCAFile, inlineKey: "client_ca", fileKey: "client_ca_file")
        var clientCAs: [NIOSSLCertificate] = []
        if let caBytes {
            do {
                clientCAs = try NIOSSLCertificate.fromPEMBytes(caBytes)
            } catch {
                throw fail(server.clientCAFile != nil ? "client_ca_file" : "client_ca", "is not a PEM certificate")
            }
        }
        if clientAuth.verifies, clientCAs.isEmpty {
            throw fail("client_ca_file", "is required with client_auth_type \(clientAuth.rawValue)")
        }
        let allowedSANs = Set(server.clientAllowedSANs ?? [])
        if !allowedSANs.isEmpty, !clientAuth.requires {
            throw fail(
                "client_allowed_sans", "needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert")
        }

        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = try tlsVersion(server.minVersion, default: .tlsv12, key: "min_version", fail)
        configuration.maximumTLSVersion = try tlsVersion(server.maxVersion, default: .tlsv13, key: "max_version", fail)
        let order: [TLSVersion] = [.tlsv1, .tlsv11, .tlsv12, .tlsv13]
        if let minimum = order.firstIndex(of: configuration.minimumTLSVersion),
            let maximum = configuration.maximumTLSVersion.flatMap(order.firstIndex(of:)), minimum > maximum
        {
            throw fail("min_version", "is above max_version")
        }
        switch clientAuth {
        case .noClientCert: configuration.certificateVerification = .none
        case .requestClientCert, .verifyClientCertIfGiven: configuration.certificateVerification = .optionalVerification
        case .requireAnyClientCert, .requireAndVerifyClientCert:
            configuration.certificateVerification = .noHostnameVerification
        }
        if !clientCAs.isEmpty {
            configuration.trustRoots = .certificates(clientCAs)
            configuration.sendCANameList = true
        }
        if let names = server.cipherSuites, !names.isEmpty {
            configuration.cipherSuiteValues = try names.map { name throws(WebConfigurationError) in
                guard let cipher = cipherSuites[name] else {
                    throw fail("cipher_suites", "unknown cipher suite \(ConfigurationText.excerpted(name))")
                }
                return cipher
            }
        }
        if let names = server.curvePreferences, !names.isEmpty {
            configuration.curves = try names.map { name throws(WebConfigurationError) in
                guard let curve = curves[name] else {
                    throw fail(
                        "curve_preferences",
                        "unknown curve \(ConfigurationText.excerpted(name)); use \(curves.keys.sorted().joined(separator: ", "))"
                    )
                }
                return curve
            }
        }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw fail(server.keyFile != nil ? "key_file" : "key", "does not match the certificate (\(error))")
        }
        return TLSSettings(context: context, clientAuth: clientAuth, allowedSANs: allowedSANs)
    }

    private static func tlsVersion(
        _ name: String?, default fallback: TLSVersion, key: String,
        _ fail: (String, String) -> WebConfigurationError
    ) throws(WebConfigurationError) -> TLSVersion {
        switch name ?? "" {
        case "": fallback
        case "TLS10": .tlsv1
        case "TLS11": .tlsv11
        case "TLS12": .tlsv12
        case "TLS13": .tlsv13
        case let other:
            throw fail(
                key, "unknown TLS version \(ConfigurationText.excerpted(other)); use TLS10, TLS11, TLS12 or TLS13")
        }
    }

    /// The file itself (`key` nil) or a file it names under `key`, at most 1 MiB of a regular file.
    private static func read(_ file: String, for path: String, key: String?) throws(WebConfigurationError) -> [UInt8] {
        do {
            return try ConfigurationFileReader.contents(of: file)
        } catch {
            guard let key else {
                throw WebConfigurationError(
                    path: path, line: nil, key: nil,
                    error.text(
                        purpose: "a web configuration file",
                        advice: "check that --web.config.file names the web configuration file"))
            }
            let problem =
                if case .unreadable(let reason) = error {
                    reason
                } else {
                    "it "
                        + error.text(
                            purpose: "a certificate or key file", advice: "check that the path names a PEM file")
                }
            throw WebConfigurationError(path: path, line: nil, key: key, "cannot read \(file): \(problem)")
        }
    }

    /// Go's cipher suite names (the toolkit passes them to `crypto/tls`), as BoringSSL's IANA values.
    static let cipherSuites: [String: NIOTLSCipher] = [
        "TLS_RSA_WITH_AES_128_CBC_SHA": .TLS_RSA_WITH_AES_128_CBC_SHA,
        "TLS_RSA_WITH_AES_256_CBC_SHA": .TLS_RSA_WITH_AES_256_CBC_SHA,
        "TLS_RSA_WITH_AES_128_GCM_SHA256": .TLS_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_RSA_WITH_AES_256_GCM_SHA384": .TLS_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_AES_128_GCM_SHA256": .TLS_AES_128_GCM_SHA256,
        "TLS_AES_256_GCM_SHA384": .TLS_AES_256_GCM_SHA384,
        "TLS_CHACHA20_POLY1305_SHA256": .TLS_CHACHA20_POLY1305_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": .TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": .TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": .TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": .TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": .TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": .TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ]

    /// Go's `tls.CurveID` names.
    static let curves: [String: NIOTLSCurve] = [
        "CurveP256": .secp256r1, "CurveP384": .secp384r1, "CurveP521": .secp521r1, "X25519": .x25519,
        "X25519MLKEM768": .x25519_MLKEM768,
    ]
}
