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
    public var credentialProvider: any AWSCredentialProvider { sender.credentialProvider! }

    /// A client over a sender configured elsewhere (its endpoint, credentials, retries and observer).
    public init(sender: AWSRequestSender, targetPrefix: String) {
        self.sender = sender
        self.targetPrefix = targetPrefix
    }

    /// A client for `endpoint` as `credentialProvider`, made by `configuration`.
    public convenience init(
        endpoint: AWSServiceEndpoint, targetPrefix: String, credentialProvider: any AWSCredentialProvider,
        transport: any AWSHTTPTransport, configuration: AWSClientConfiguration,
        observer: (any AWSRequestObserver)? = nil
    ) {
        self.init(
            sender: AWSRequestSender(
                endpoint: endpoint, credentialProvider: credentialProvider, transport: transport,
                configuration: configuration, observer: observer),
            targetPrefix: targetPrefix)
    }

    /// Calls `operation` with a JSON `body` and decodes a successful response with `decode`.
    ///
    /// A response that `decode` rejects is an ``AWSClientError/invalidResponse(_:)`` and is not retried.
    /// Every error thrown is an ``AWSClientError``.
    public func send<Output: Sendable>(
        operation: String,
        body: [UInt8],
        deadline: MonotonicInstant,
        decode: ([UInt8]) throws -> Output
    ) async throws -> Output {
        try await sender.send(
            operation: operation,
            request: AWSJSONProtocol.request(
                endpoint: endpoint.url, targetPrefix: targetPrefix, operation: operation, body: body),
            deadline: deadline,
            parseError: AWSJSONProtocol.parseError,
            decode: decode
        )
    }

    /// Calls a modeled operation with a JSON `body`: `awsJson1_1` with the target prefix, or `restJson1` on
    /// `POST restPath` when one is given.
    public func send<Output: Sendable>(
        _ operation: AWSOperation<Output>, body: [UInt8], restPath: String? = nil, deadline: MonotonicInstant
    ) async throws -> Output {
        let request =
            restPath.map { AWSJSONProtocol.restRequest(endpoint: endpoint.url, path: $0, body: body) }
            ?? AWSJSONProtocol.request(
                endpoint: endpoint.url, targetPrefix: targetPrefix, operation: operation.name, body: body)
        return try await sender.send(
            operation: operation.name, request: request, deadline: deadline, parseError: AWSJSONProtocol.parseError,
            decode: operation.decode)
    }

    func signedRequest(operation: String, body: [UInt8], credentials: AWSCredentials) -> AWSHTTPRequest {
        sender.prepared(
            AWSJSONProtocol.request(
                endpoint: endpoint.url, targetPrefix: targetPrefix, operation: operation, body: body),
            credentials: credentials
        )
    }
}
