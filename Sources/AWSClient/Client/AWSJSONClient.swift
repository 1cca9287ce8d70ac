import Logging

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Sends `awsJson1_1` operations through an ``AWSRequestSender``.
public final class AWSJSONClient: Sendable {
    public let sender: AWSRequestSender
    public let targetPrefix: String

    public var endpoint: AWSServiceEndpoint { sender.endpoint }

    /// A client over a sender made by an ``AWSClient`` (its endpoint, credentials, retries and observer).
    public init(sender: AWSRequestSender, targetPrefix: String) {
        self.sender = sender
        self.targetPrefix = targetPrefix
    }

    /// Calls a modeled operation with a JSON `body`: `awsJson1_1` with the target prefix, or `restJson1` on
    /// `POST restPath` when one is given.
    ///
    /// A response that the operation's decoder rejects is an ``AWSClientError/invalidResponse(_:)-(any Error)``
    /// and is not retried. Every error thrown is an ``AWSClientError``.
    public func send<Output: Sendable>(
        _ operation: AWSOperation<Output>, body: [UInt8], restPath: String? = nil, deadline: MonotonicInstant
    ) async throws -> Output {
        let request =
            restPath.map { AWSJSONProtocol.restRequest(endpoint: endpoint.url, path: $0, body: body) }
            ?? AWSJSONProtocol.request(
                endpoint: endpoint.url, targetPrefix: targetPrefix, operation: operation.name, body: body)
        return try await sender.send(
            operation, request: request, deadline: deadline, parseError: AWSJSONProtocol.parseError)
    }
}
