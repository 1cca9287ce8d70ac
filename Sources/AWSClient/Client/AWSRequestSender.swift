import Logging
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The loop every protocol shares: sign each attempt afresh (unless the operation is unsigned), send, classify,
/// retry by the standard rules within the caller's deadline, correct the signing clock once on a skew error, and
/// report every attempt to an observer.
public final class AWSRequestSender: Sendable {
    public let endpoint: AWSServiceEndpoint
    /// `nil` for a sender of unsigned operations only (`AssumeRoleWithWebIdentity`).
    public let credentialProvider: (any AWSCredentialProvider)?
    public let transport: any AWSHTTPTransport
    public let retryStrategy: StandardRetryStrategy
    /// The longest one attempt may take; the deadline may cut it shorter.
    public let requestTimeout: Duration
    public let userAgent: String
    private let clock: AWSClock
    private let observer: (any AWSRequestObserver)?
    private let logger: Logger
    /// Server time minus local time, learned from a skew error; applied to every later signature.
    private let clockSkew = Mutex<TimeInterval>(0)
    /// A sender signs for one region and service, and its credentials change a few times a day: two entries cover
    /// a rotation without the sender's keys competing with every other account's.
    private let signingKeys = SigningKeyCache(capacity: 2)

    /// The error codes with which services reject a request signed at the wrong time.
    public static let clockSkewErrorCodes: Set<String> = [
        "RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture", "InvalidSignatureException",
    ]
    /// A server `Date` this far from local time is treated as skew, as the SDKs do.
    public static let clockSkewThreshold: TimeInterval = 300

    /// A sender for `endpoint` as `credentialProvider` (`nil` for unsigned operations only), made by `configuration`,
    /// reporting every attempt to `observer`.
    public init(
        endpoint: AWSServiceEndpoint, credentialProvider: (any AWSCredentialProvider)?,
        transport: any AWSHTTPTransport, configuration: AWSClientConfiguration,
        observer: (any AWSRequestObserver)? = nil
    ) {
        self.endpoint = endpoint
        self.credentialProvider = credentialProvider
        self.transport = transport
        self.retryStrategy = StandardRetryStrategy(
            maxAttempts: configuration.retry.maxAttempts, quota: configuration.retry.quotas.quota(for: endpoint),
            random: configuration.retry.jitter)
        self.requestTimeout = configuration.timeout.request
        self.userAgent = configuration.userAgent
        self.clock = configuration.clock
        self.observer = observer
        self.logger = configuration.logger
    }

    /// The correction currently applied to the signing time, in seconds.
    public var currentClockSkew: TimeInterval { clockSkew.withLock { $0 } }

    /// Sends `request` (method, URL, protocol headers and body; no `Host`, no signature) for `described` until it
    /// succeeds, fails for good, or the deadline leaves no room for another attempt.
    ///
    /// Every error thrown is an ``AWSClientError``. A response that `decode` rejects is not retried.
    public func send<Output: Sendable>(
        _ described: AWSOperation<Output>,
        request: AWSHTTPRequest,
        deadline: MonotonicInstant,
        parseError: (AWSHTTPResponse) -> AWSServiceError
    ) async throws -> Output {
        let operation = described.name
        let signed = described.signed
        let decode = described.decode
        var attempt = 0
        var lastRetryKind: StandardRetryStrategy.Classification?
        var lastError: AWSClientError?
        var skewCorrected = false
        while true {
            attempt += 1
            let remaining = clock.now().duration(to: deadline)
            guard !Task.isCancelled else { throw AWSClientError.cancelled }
            guard remaining > .zero else {
                // After a failed attempt, that failure is the answer; before any, the deadline is.
                if let lastError { throw lastError }
                let error = AWSClientError.deadlineExceeded(lastError: nil)
                observer?.callFailedBeforeSending(operation: operation, error: error)
                throw error
            }
            var credentials: AWSCredentials?
            if signed {
                guard let credentialProvider else {
                    let failure = AWSClientError.credentials(
                        AWSCredentialsError(provider: "none", message: "no credential provider for a signed call"))
                    observer?.callFailedBeforeSending(operation: operation, error: failure)
                    throw failure
                }
                do {
                    credentials = try await credentialProvider.credentials()
                } catch {
                    let failure = AWSClientError.credentials(
                        error as? AWSCredentialsError
                            ?? AWSCredentialsError(
                                provider: credentialProvider.name, message: String(describing: error))
                    )
                    observer?.callFailedBeforeSending(operation: operation, error: failure)
                    throw failure
                }
            }
            let attemptRequest = prepared(request, credentials: credentials)
            let started = clock.now()
            var response: AWSHTTPResponse?
            let outcome: Result<Output, AWSClientError>
            do {
                let received = try await transport.send(attemptRequest, timeout: min(requestTimeout, remaining))
                response = received
                outcome = Self.interpret(received, parseError: parseError, decode: decode)
            } catch AWSTransportError.paced where !Task.isCancelled {
                // Nothing was sent: not an attempt. The failure before it, if any, stays the answer.
                if let lastError { throw lastError }
                let error = AWSClientError.transport(.paced)
                observer?.callFailedBeforeSending(operation: operation, error: error)
                throw error
            } catch let error as AWSTransportError {
                outcome = .failure(.transport(error))
            } catch {
                outcome = .failure(.transport(.connection(String(describing: error))))
            }
            let elapsed = started.duration(to: clock.now())
            if case .failure = outcome, Task.isCancelled {
                // The transport reports a cancelled exchange as a timeout; the caller gave up, AWS did not fail.
                observer?.attemptFinished(operation: operation, duration: elapsed, error: .cancelled)
                throw AWSClientError.cancelled
            }
            switch outcome {
            case .success(let output):
                observer?.attemptFinished(operation: operation, duration: elapsed, error: nil)
                retryStrategy.recordSuccess(retriedAfter: lastRetryKind)
                return output
            case .failure(let error):
                observer?.attemptFinished(operation: operation, duration: elapsed, error: error)
                lastError = error
                if signed, !skewCorrected, let response, correctClockSkew(after: error, response: response) {
                    // Re-signing with the corrected time is the fix; it does not spend a retry.
                    skewCorrected = true
                    attempt -= 1
                    continue
                }
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
                    // Only cancellation ends the wait.
                    throw AWSClientError.cancelled
                }
            }
        }
    }

    /// The request as sent: `Host`, `User-Agent` and, when credentials are given, the SigV4 headers.
    func prepared(_ request: AWSHTTPRequest, credentials: AWSCredentials?) -> AWSHTTPRequest {
        var result = request
        let path: String
        let query: String
        if request.url == endpoint.url {
            (path, query) = (endpoint.signingPath, endpoint.signingQuery)
        } else {
            path = request.url.path.isEmpty ? "/" : request.url.path
            query = request.url.query(percentEncoded: true) ?? ""
        }
        // Room for what signing and this add (date, token, authorization, user agent): no array grows on the way.
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(request.headers.count + 5)
        headers.append(("Host", endpoint.hostHeader))
        headers.append(contentsOf: request.headers)
        var signable = SigV4Request(
            method: request.method, path: path, query: query, headers: headers, body: request.body)
        if let credentials {
            let skew = clockSkew.withLock { $0 }
            SigV4Signer(
                credentials: credentials, region: endpoint.region, service: endpoint.signingName,
                keyCache: signingKeys
            )
            .sign(&signable, date: clock.wallTime().addingTimeInterval(skew))
        }
        signable.headers.append(("User-Agent", userAgent))
        result.headers = signable.headers
        return result
    }

    /// Learns the server's clock from `Date` when `error` says the signature time was off by more than the
    /// threshold. Returns whether the correction changed.
    func correctClockSkew(after error: AWSClientError, response: AWSHTTPResponse) -> Bool {
        guard let serviceError = error.serviceError, Self.clockSkewErrorCodes.contains(serviceError.code),
            let dateHeader = response.headers.first(where: { $0.name.lowercased() == "date" })?.value,
            let serverDate = HTTPDate.parse(dateHeader)
        else { return false }
        let skew = serverDate.timeIntervalSince(clock.wallTime())
        guard abs(skew) > Self.clockSkewThreshold else { return false }
        clockSkew.withLock { $0 = skew }
        logger.warning(
            "local clock differs from AWS; signing with the server's time",
            metadata: ["skew_seconds": "\(Int(skew.rounded()))", "host": "\(endpoint.hostHeader)"]
        )
        return true
    }

    private static func interpret<Output>(
        _ response: AWSHTTPResponse,
        parseError: (AWSHTTPResponse) -> AWSServiceError,
        decode: ([UInt8]) throws -> Output
    ) -> Result<Output, AWSClientError> {
        guard (200..<300).contains(response.status) else {
            return .failure(.service(parseError(response)))
        }
        do {
            return .success(try decode(response.body))
        } catch let error as AWSClientError {
            return .failure(error)
        } catch {
            return .failure(.invalidResponse(error))
        }
    }
}

/// The IMF-fixdate of HTTP `Date` headers: `Wed, 25 Nov 2026 07:40:00 GMT`.
public enum HTTPDate {
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    public static func parse(_ text: String) -> Date? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]),
            let month = months.firstIndex(of: String(parts[2])).map({ $0 + 1 }), let year = Int(parts[3])
        else { return nil }
        let time = parts[4].split(separator: ":")
        guard time.count == 3, let hour = Int(time[0]), let minute = Int(time[1]), let second = Int(time[2]),
            (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        let days = UTCTimestamp.daysSinceEpoch(year: year, month: month, day: day)
        return Date(timeIntervalSince1970: Double(days * 86_400 + hour * 3600 + minute * 60 + second))
    }
}
