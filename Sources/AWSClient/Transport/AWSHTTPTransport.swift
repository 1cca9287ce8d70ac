#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One HTTP exchange as the AWS client sees it, independent of the HTTP library underneath.
public struct AWSHTTPRequest: Sendable {
    public var method: String
    public var url: URL
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, url: URL, headers: [(name: String, value: String)], body: [UInt8]) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// The parts of a response the protocols read.
public struct AWSHTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of a header, matching its name case-insensitively.
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }
}

/// A failure below HTTP: no response, or one that could not be read.
public enum AWSTransportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The connection could not be made or broke before a whole response arrived.
    case connection(String)
    /// Connecting or waiting for the response took longer than allowed.
    case timeout
    /// The response could not be read (too large, malformed framing).
    case invalidResponse(String)
    /// The request cannot be sent as it is (a URL no connection can be made to); nothing was sent.
    case invalidRequest(String)

    public var description: String {
        switch self {
        case .connection(let detail): "connection error: \(detail)"
        case .timeout: "timed out"
        case .invalidResponse(let detail): "invalid response: \(detail)"
        case .invalidRequest(let detail): "invalid request: \(detail)"
        }
    }
}

/// Sends one request and returns the whole response, or throws ``AWSTransportError``.
public protocol AWSHTTPTransport: Sendable {
    func send(_ request: AWSHTTPRequest, timeout: Duration) async throws -> AWSHTTPResponse
}
