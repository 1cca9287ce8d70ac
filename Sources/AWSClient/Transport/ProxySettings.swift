import AsyncHTTPClient

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (either case), as the AWS SDKs read them, for calls to AWS only:
/// the instance metadata and container endpoints are link-local and always reached directly.
public struct ProxySettings: Sendable, Equatable, CustomStringConvertible {
    /// An HTTP proxy (`http://[user:password@]host[:port]`).
    public struct Server: Sendable, Equatable, CustomStringConvertible {
        public let host: String
        public let port: Int
        let username: String?
        let password: String?

        /// Without the credentials, for logs.
        public var description: String { "\(host):\(port)" + (username == nil ? "" : " (with credentials)") }

        var asyncHTTPClientProxy: HTTPClient.Configuration.Proxy {
            .server(
                host: host, port: port,
                authorization: username.map { .basic(username: $0, password: password ?? "") })
        }
    }

    public let https: Server?
    public let http: Server?
    public let noProxy: [String]

    public var isEmpty: Bool { https == nil && http == nil }

    public var description: String {
        var parts: [String] = []
        if let https { parts.append("https via \(https)") }
        if let http { parts.append("http via \(http)") }
        if !noProxy.isEmpty { parts.append("not for \(noProxy.joined(separator: ","))") }
        return parts.isEmpty ? "none" : parts.joined(separator: "; ")
    }

    public init(https: Server? = nil, http: Server? = nil, noProxy: [String] = []) {
        self.https = https
        self.http = http
        self.noProxy = noProxy
    }

    /// Reads the variables; an unusable proxy URL is an error that names its variable, never its password.
    public static func fromEnvironment(_ environment: [String: String]) throws -> ProxySettings {
        func value(_ name: String) -> (String, String)? {
            for variable in [name, name.lowercased()] {
                if let text = environment[variable], !text.isEmpty { return (variable, text) }
            }
            return nil
        }
        let https = try value("HTTPS_PROXY").map { try parseServer($0.1, variable: $0.0) }
        let http = try value("HTTP_PROXY").map { try parseServer($0.1, variable: $0.0) }
        let noProxy = (value("NO_PROXY")?.1 ?? "").split(separator: ",")
            .map { String($0.trimmingASCIIWhitespace()).lowercased() }.filter { !$0.isEmpty }
        return ProxySettings(https: https, http: http, noProxy: noProxy)
    }

    static func parseServer(_ text: String, variable: String) throws -> Server {
        let hasScheme = text.contains("://")
        // curl's shorthands `host:port` and `proxy.example.com` are accepted; a bare word without a port is more
        // likely a mistake than a proxy host.
        guard hasScheme || text.contains(":") || text.contains(".") else {
            throw AWSConfigurationError(
                "\(variable): \"\(NetworkText.sanitized(text, limit: 100))\" is not a proxy URL (http://host:port)")
        }
        let url = try EndpointURL.parse(
            hasScheme ? text : "http://\(text)", source: variable, schemes: ["http", "https", "socks5"], quoting: false)
        let host = url.host ?? ""
        guard url.scheme?.lowercased() == "http" else {
            throw AWSConfigurationError(
                "\(variable): only http:// proxies are supported (HTTPS requests are tunnelled through them)")
        }
        return Server(
            host: host, port: url.port ?? 80, username: url.user(percentEncoded: false),
            password: url.password(percentEncoded: false))
    }

    /// The proxy for a request to `url`, `nil` to go direct.
    public func server(for url: URL) -> Server? {
        guard let host = url.host?.lowercased() else { return nil }
        if bypasses(host: host, port: url.port) { return nil }
        return url.scheme?.lowercased() == "https" ? https : http
    }

    /// `NO_PROXY` as curl and the SDKs read it: `*`, exact hosts, domain suffixes with or without a leading dot,
    /// and `host:port`.
    func bypasses(host: String, port: Int?) -> Bool {
        for entry in noProxy {
            if entry == "*" { return true }
            var pattern = Substring(entry)
            if let colon = pattern.lastIndex(of: ":"), !pattern.contains("]"), pattern.filter({ $0 == ":" }).count == 1
            {
                guard let wanted = Int(pattern[pattern.index(after: colon)...]), wanted == port else { continue }
                pattern = pattern[..<colon]
            }
            let domain = pattern.hasPrefix(".") ? pattern.dropFirst() : pattern
            if host == domain || host.hasSuffix("." + domain) { return true }
        }
        return false
    }
}

/// Sends each request through the client for its proxy (or the direct one), per ``ProxySettings``.
public struct ProxyRoutingTransport: AWSHTTPTransport {
    public let settings: ProxySettings
    public let direct: any AWSHTTPTransport
    public let viaHTTPSProxy: AsyncHTTPClientTransport?
    public let viaHTTPProxy: AsyncHTTPClientTransport?

    public init(
        settings: ProxySettings,
        direct: any AWSHTTPTransport,
        viaHTTPSProxy: AsyncHTTPClientTransport?,
        viaHTTPProxy: AsyncHTTPClientTransport?
    ) {
        self.settings = settings
        self.direct = direct
        self.viaHTTPSProxy = viaHTTPSProxy
        self.viaHTTPProxy = viaHTTPProxy
    }

    /// The transport for `settings` and every client it uses, which the caller (an ``AWSClient``) shuts down.
    static func make(
        settings: ProxySettings, connectTimeout: Duration, maxConnectionsPerHost: Int = 8
    ) throws -> (ProxyRoutingTransport, AWSHTTPClients) {
        var directConfiguration = KeptAliveTransport.Configuration()
        directConfiguration.connectTimeout = connectTimeout
        directConfiguration.maxIdleConnectionsPerHost = maxConnectionsPerHost
        let direct = try KeptAliveTransport(configuration: directConfiguration)
        let https = settings.https.map {
            AsyncHTTPClientTransport.makeHTTPClient(
                connectTimeout: connectTimeout, proxy: $0.asyncHTTPClientProxy,
                maxConnectionsPerHost: maxConnectionsPerHost)
        }
        let http = settings.http.map {
            AsyncHTTPClientTransport.makeHTTPClient(
                connectTimeout: connectTimeout, proxy: $0.asyncHTTPClientProxy,
                maxConnectionsPerHost: maxConnectionsPerHost)
        }
        let transport = ProxyRoutingTransport(
            settings: settings,
            direct: direct,
            viaHTTPSProxy: https.map { AsyncHTTPClientTransport(client: $0) },
            viaHTTPProxy: http.map { AsyncHTTPClientTransport(client: $0) })
        return (transport, AWSHTTPClients([https, http].compactMap { $0 }, transports: [direct]))
    }

    public func send(_ request: AWSHTTPRequest, timeout: Duration) async throws -> AWSHTTPResponse {
        // Without a proxy there is nothing to decide (and the URL's host is not worth reading on every call).
        if settings.isEmpty { return try await direct.send(request, timeout: timeout) }
        let server = settings.server(for: request.url)
        let transport: any AWSHTTPTransport
        if server == nil {
            transport = direct
        } else if server == settings.https, let viaHTTPSProxy {
            transport = viaHTTPSProxy
        } else {
            transport = viaHTTPProxy ?? direct
        }
        return try await transport.send(request, timeout: timeout)
    }
}
