import AsyncHTTPClient
import NIOCore
import NIOHTTP1

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
    public static func makeHTTPClient(
        connectTimeout: Duration,
        proxy: HTTPClient.Configuration.Proxy? = nil
    ) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.proxy = proxy
        configuration.timeout.connect = .nanoseconds(connectTimeout.clampedNanoseconds)
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func send(_ request: AWSHTTPRequest, timeout: Duration) async throws -> AWSHTTPResponse {
        var outgoing = HTTPClientRequest(url: request.url.absoluteString)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers {
            outgoing.headers.add(name: name, value: value)
        }
        outgoing.body = .bytes(ByteBuffer(bytes: request.body))
        // AsyncHTTPClient rejects a deadline in the past; one millisecond still fails fast with a timeout.
        let nanoseconds = max(1_000_000, timeout.clampedNanoseconds)
        do {
            let response = try await client.execute(outgoing, timeout: .nanoseconds(nanoseconds))
            var body = try await response.body.collect(upTo: maxResponseBytes)
            let bytes = body.readBytes(length: body.readableBytes) ?? []
            return AWSHTTPResponse(
                status: Int(response.status.code),
                headers: response.headers.map { ($0.name, $0.value) },
                body: bytes
            )
        } catch let error as AWSTransportError {
            throw error
        } catch {
            throw Self.classify(error)
        }
    }

    /// Maps the HTTP library's errors onto the three kinds the retry rules care about.
    static func classify(_ error: any Error) -> AWSTransportError {
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
        return .connection(String(describing: error))
    }
}
