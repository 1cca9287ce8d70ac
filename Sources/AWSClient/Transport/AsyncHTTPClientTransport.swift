import AsyncHTTPClient
import NIOCore
import NIOHTTP1
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

/// ``AWSHTTPTransport`` over AsyncHTTPClient, with a bounded response size so a broken endpoint cannot exhaust memory.
public struct AsyncHTTPClientTransport: AWSHTTPTransport {
    public let client: HTTPClient
    public let maxResponseBytes: Int

    public init(client: HTTPClient, maxResponseBytes: Int = 8 << 20) {
        self.client = client
        self.maxResponseBytes = maxResponseBytes
    }

    /// An HTTP client with the timeouts the AWS calls need; the caller shuts it down.
    ///
    /// - Parameter maxConnectionsPerHost: kept-alive connections to one endpoint. Every account's calls in a region
    ///   go to the same regional host, so this bounds how many targets of a region are collected at once.
    public static func makeHTTPClient(
        connectTimeout: Duration,
        proxy: HTTPClient.Configuration.Proxy? = nil,
        maxConnectionsPerHost: Int = 8
    ) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(1, maxConnectionsPerHost)
        configuration.proxy = proxy
        configuration.timeout.connect = .nanoseconds(connectTimeout.clampedNanoseconds)
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        // Fail an attempt on the first refused connection and leave retrying to the AWS retry rules; otherwise
        // AsyncHTTPClient keeps reconnecting until the connect timeout, and "nothing listens" costs the whole budget.
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func send(_ request: AWSHTTPRequest, timeout: Duration) async throws -> AWSHTTPResponse {
        // A URL that reached here without the startup checks (a profile read later, a container endpoint) must
        // fail as an error: AsyncHTTPClient would trap on a port above 65535.
        if let problem = EndpointURL.problem(with: request.url) {
            throw AWSTransportError.invalidRequest(problem)
        }
        var outgoing = HTTPClientRequest(url: request.url.absoluteString)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers {
            outgoing.headers.add(name: name, value: value)
        }
        outgoing.body = .bytes(ByteBuffer(bytes: request.body))
        // AsyncHTTPClient rejects a deadline in the past; one millisecond still fails fast with a timeout.
        let budget = Duration.nanoseconds(max(1_000_000, timeout.clampedNanoseconds))
        let target = "\(request.url.host ?? ""):\(request.url.port ?? (request.url.scheme == "https" ? 443 : 80))"
        do {
            // AsyncHTTPClient's timeout ends when the response head arrives; the race makes the same deadline cover
            // the whole body, so a peer that stalls mid-body is a timeout, not a hang.
            return try await withThrowingTaskGroup(of: AWSHTTPResponse.self) { group in
                group.addTask { [outgoing, client, maxResponseBytes] in
                    let response = try await client.execute(
                        outgoing, timeout: .nanoseconds(Int64(budget.clampedNanoseconds)))
                    var body = try await response.body.collect(upTo: maxResponseBytes)
                    return AWSHTTPResponse(
                        status: Int(response.status.code),
                        headers: response.headers.map { ($0.name, $0.value) },
                        body: body.readBytes(length: body.readableBytes) ?? []
                    )
                }
                group.addTask {
                    try await Task.sleep(for: budget)
                    throw AWSTransportError.timeout
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        } catch let error as AWSTransportError {
            throw error
        } catch {
            throw Self.classify(error, target: target)
        }
    }

    /// Maps the HTTP library's errors onto the three kinds the retry rules care about.
    static func classify(_ error: any Error, target: String = "the endpoint") -> AWSTransportError {
        if isConnectionRefused(error) {
            return .connection("connection refused by \(target)")
        }
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout, .readTimeout, .writeTimeout, .deadlineExceeded, .tlsHandshakeTimeout,
                .getConnectionFromPoolTimeout:
                return .timeout
            case .remoteConnectionClosed, .cancelled, .uncleanShutdown:
                return .connection(String(describing: error))
            case .invalidURL, .emptyHost, .emptyScheme:
                return .invalidResponse("invalid endpoint URL")
            default:
                return .connection(String(describing: error))
            }
        }
        if error is NIOTooManyBytesError {
            return .invalidResponse("response body larger than the limit")
        }
        if error is CancellationError {
            return .timeout
        }
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
