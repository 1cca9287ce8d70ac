import Logging

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Sends `awsJson1_1` operations: signs each attempt afresh, retries by the standard rules within the
/// caller's deadline, and reports every attempt to an observer.
public final class AWSJSONClient: Sendable {
    public let endpoint: AWSServiceEndpoint
    public let targetPrefix: String
    public let credentialProvider: any AWSCredentialProvider
    public let transport: any AWSHTTPTransport
    public let retryStrategy: StandardRetryStrategy
    /// The longest one attempt may take; the deadline may cut it shorter.
    public let requestTimeout: Duration
    public let userAgent: String
    private let clock: MonotonicClock
    private let wallClock: @Sendable () -> Date
    private let observer: (any AWSRequestObserver)?
    private let logger: Logger

    public init(
        endpoint: AWSServiceEndpoint,
        targetPrefix: String,
        credentialProvider: any AWSCredentialProvider,
        transport: any AWSHTTPTransport,
        retryStrategy: StandardRetryStrategy = StandardRetryStrategy(),
        requestTimeout: Duration = .seconds(10),
        userAgent: String,
        clock: MonotonicClock = .continuous,
        wallClock: @escaping @Sendable () -> Date = { Date() },
        observer: (any AWSRequestObserver)? = nil,
        logger: Logger = Logger(label: "aws-client")
    ) {
        self.endpoint = endpoint
        self.targetPrefix = targetPrefix
        self.credentialProvider = credentialProvider
        self.transport = transport
        self.retryStrategy = retryStrategy
        self.requestTimeout = requestTimeout
        self.userAgent = userAgent
        self.clock = clock
        self.wallClock = wallClock
        self.observer = observer
        self.logger = logger
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
        var attempt = 0
        var lastRetryKind: StandardRetryStrategy.Classification?
        var lastError: AWSClientError?
        while true {
            attempt += 1
            let remaining = clock.now().duration(to: deadline)
            guard remaining > .zero else {
                let error = AWSClientError.deadlineExceeded(lastError: lastError.map { String(describing: $0) })
                if lastError == nil { observer?.callFailedBeforeSending(operation: operation, error: error) }
                throw lastError ?? error
            }
            let credentials: AWSCredentials
            do {
                credentials = try await credentialProvider.credentials()
            } catch {
                let failure = AWSClientError.credentials(
                    error as? AWSCredentialsError
                        ?? AWSCredentialsError(provider: credentialProvider.name, message: String(describing: error))
                )
                observer?.callFailedBeforeSending(operation: operation, error: failure)
                throw failure
            }
            let request = signedRequest(operation: operation, body: body, credentials: credentials)
            let started = clock.now()
            let outcome: Result<Output, AWSClientError>
            do {
                let response = try await transport.send(request, timeout: min(requestTimeout, remaining))
                outcome = Self.interpret(response, decode: decode)
            } catch let error as AWSTransportError {
                outcome = .failure(.transport(error))
            } catch {
                outcome = .failure(.transport(.connection(String(describing: error))))
            }
            let elapsed = started.duration(to: clock.now())
            switch outcome {
            case .success(let output):
                observer?.attemptFinished(operation: operation, duration: elapsed, error: nil)
                retryStrategy.recordSuccess(retriedAfter: lastRetryKind)
                return output
            case .failure(let error):
                observer?.attemptFinished(operation: operation, duration: elapsed, error: error)
                lastError = error
                guard let delay = retryStrategy.retryDelay(after: attempt, error: error) else {
                    logger.debug(
                        "AWS call failed, not retrying",
                        metadata: ["operation": "\(operation)", "attempt": "\(attempt)", "error": "\(error)"]
                    )
                    throw error
                }
                // A retry that could not finish before the deadline only delays the answer.
                guard clock.now().advanced(by: delay) < deadline else { throw error }
                logger.debug(
                    "AWS call failed, retrying",
                    metadata: [
                        "operation": "\(operation)", "attempt": "\(attempt)", "error": "\(error)",
                        "delay": "\(delay)",
                    ]
                )
                lastRetryKind = StandardRetryStrategy.classify(error)
                do {
                    try await clock.sleep(for: delay)
                } catch {
                    throw AWSClientError.deadlineExceeded(lastError: String(describing: lastError!))
                }
            }
        }
    }

    private static func interpret<Output>(
        _ response: AWSHTTPResponse,
        decode: ([UInt8]) throws -> Output
    ) -> Result<Output, AWSClientError> {
        guard (200..<300).contains(response.status) else {
            return .failure(.service(AWSJSONProtocol.parseError(response)))
        }
        do {
            return .success(try decode(response.body))
        } catch {
            return .failure(.invalidResponse(String(describing: error)))
        }
    }

    func signedRequest(operation: String, body: [UInt8], credentials: AWSCredentials) -> AWSHTTPRequest {
        var request = AWSJSONProtocol.request(
            endpoint: endpoint.url,
            targetPrefix: targetPrefix,
            operation: operation,
            body: body
        )
        var signable = SigV4Request(
            method: request.method,
            path: endpoint.url.path.isEmpty ? "/" : endpoint.url.path,
            headers: [("Host", endpoint.hostHeader)] + request.headers,
            body: body
        )
        SigV4Signer(credentials: credentials, region: endpoint.region, service: endpoint.signingName)
            .sign(&signable, date: wallClock())
        request.headers = signable.headers + [("User-Agent", userAgent)]
        return request
    }
}
