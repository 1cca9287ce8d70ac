import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

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
    /// The client's own pacing (a ``TokenBucket``) had no token for the request before its deadline; nothing was
    /// sent, and retrying within the same deadline cannot help.
    case paced

    public var description: String {
        switch self {
        case .connection(let detail): "connection error: \(detail)"
        case .timeout: "timed out"
        case .invalidResponse(let detail): "invalid response: \(detail)"
        case .invalidRequest(let detail): "invalid request: \(detail)"
        case .paced: "not sent: the account's request rate leaves no room before the deadline"
        }
    }
}

extension AWSTransportError {
    /// An error from below HTTP (NIO, the socket, the task) as the retry rules see it; `target` names where the
    /// request went. Each transport maps its own library's errors first.
    static func classifying(_ error: any Error, target: String) -> AWSTransportError {
        if let error = error as? AWSTransportError { return error }
        if isConnectionRefused(error) { return .connection("connection refused by \(target)") }
        if case ChannelError.connectTimeout = error { return .timeout }
        if error is NIOTooManyBytesError { return .invalidResponse("response body larger than the limit") }
        if error is CancellationError { return .timeout }
        return .connection(NetworkText.sanitized(String(describing: error), limit: 200))
    }

    /// Whether nothing listens where the request went: worth saying plainly, and worth no connect timeout.
    static func isConnectionRefused(_ error: any Error) -> Bool {
        if let error = error as? IOError { return error.errnoCode == ECONNREFUSED }
        if let error = error as? NIOConnectionError {
            return !error.connectionErrors.isEmpty
                && error.connectionErrors.allSatisfy { isConnectionRefused($0.error) }
        }
        return false
    }
}

/// Sends one request and returns the whole response, or throws ``AWSTransportError``.
public protocol AWSHTTPTransport: Sendable {
    func send(_ request: AWSHTTPRequest, timeout: Duration) async throws -> AWSHTTPResponse
}
