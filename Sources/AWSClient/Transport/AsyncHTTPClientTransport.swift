import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOPosix

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
        // No tracer: the AWS client reports through its observer, and an idle span per request costs CPU.
        configuration.tracing.tracer = nil
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
        let outgoing: HTTPClient.Request
        do {
            var headers = HTTPHeaders()
            headers.reserveCapacity(request.headers.count)
            for (name, value) in request.headers { headers.add(name: name, value: value) }
            outgoing = try HTTPClient.Request(
                url: request.url, method: HTTPMethod(rawValue: request.method), headers: headers,
                body: .bytes(request.body))
        } catch {
            throw Self.classify(error, target: "the endpoint")
        }
        // AsyncHTTPClient rejects a deadline in the past; one millisecond still fails fast with a timeout.
        let budget = max(1_000_000, timeout.clampedNanoseconds)
        // The future-based call's deadline covers the whole exchange, body included, so a peer that stalls
        // mid-body is a timeout, not a hang; and it costs one event-loop timer instead of a racing task and a
        // dispatch timer per call (the difference shows in the organization benchmark's CPU per call).
        let task = client.execute(
            request: outgoing, delegate: ResponseAccumulator(request: outgoing, maxBodySize: maxResponseBytes),
            deadline: .now() + .nanoseconds(Int64(budget)))
        do {
            let response = try await withTaskCancellationHandler {
                try await task.futureResult.get()
            } onCancel: {
                task.cancel()
            }
            var body = response.body ?? ByteBuffer()
            return AWSHTTPResponse(
                status: Int(response.status.code),
                headers: response.headers.map { ($0.name, $0.value) },
                body: body.readBytes(length: body.readableBytes) ?? []
            )
        } catch {
            throw Self.classify(error, target: Self.describeTarget(request.url))
        }
    }

    private static func describeTarget(_ url: URL) -> String {
        "\(url.host ?? ""):\(url.port ?? (url.scheme == "https" ? 443 : 80))"
    }

    /// Maps AsyncHTTPClient's errors onto the kinds the retry rules care about; the rest as every transport does.
    static func classify(_ error: any Error, target: String = "the endpoint") -> AWSTransportError {
        if error is ResponseAccumulator.ResponseTooBigError {
            return .invalidResponse("response body larger than the limit")
        }
        guard let error = error as? HTTPClientError else { return AWSTransportError.classifying(error, target: target) }
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
}
