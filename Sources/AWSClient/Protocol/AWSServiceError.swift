/// An error the service returned: the normalized error code, HTTP status and message.
public struct AWSServiceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The error code without `namespace#` prefix or `:suffix`, such as `ThrottlingException`.
    public let code: String
    public let statusCode: Int
    public let message: String?
    public let requestID: String?

    /// The longest error code kept; codes are identifiers, far shorter than this.
    public static let maxCodeLength = 128

    /// Every text the service sent is cut and scrubbed here, once, so no log line or label can carry a megabyte of
    /// error text or an echoed credential.
    public init(code: String, statusCode: Int, message: String? = nil, requestID: String? = nil) {
        self.code = NetworkText.sanitized(code, limit: Self.maxCodeLength)
        self.statusCode = statusCode
        self.message = message.map { NetworkText.sanitized($0) }
        self.requestID = requestID.map { NetworkText.sanitized($0, limit: Self.maxCodeLength) }
    }

    public var description: String {
        var text = "\(code) (HTTP \(statusCode))"
        if let message, !message.isEmpty { text += ": \(message)" }
        if let requestID { text += " [request id \(requestID)]" }
        return text
    }
}

/// Everything an AWS call, or a paginated series of calls, can fail with: the one error the module's calls throw.
///
/// A struct with a private code, as AsyncHTTPClient's `HTTPClientError` is, so that a new kind of failure is not a
/// breaking change; each kind keeps its cause as a value (the service's error, the transport's, the credential
/// provider's, the decoder's), never as text, down to its details.
public struct AWSClientError: Error, Sendable, CustomStringConvertible {
    private enum Code: Sendable, Equatable {
        case service
        case transport
        case credentials
        case deadlineExceeded
        case invalidResponse
        case pagination
        case cancelled
    }

    private let code: Code
    /// What went wrong underneath: the service's error, the transport's, the credential provider's, the decoder's,
    /// the pagination's, or the last attempt's error before a deadline. `nil` for a cancellation.
    public let cause: (any Error)?

    private init(_ code: Code, cause: (any Error)?) {
        self.code = code
        self.cause = cause
    }

    /// The service answered with an error.
    public static func service(_ error: AWSServiceError) -> Self { Self(.service, cause: error) }
    /// No response, or one that could not be read.
    public static func transport(_ error: AWSTransportError) -> Self { Self(.transport, cause: error) }
    /// No credentials to sign with.
    public static func credentials(_ error: AWSCredentialsError) -> Self { Self(.credentials, cause: error) }
    /// The caller's deadline left no time for another attempt; the error of the attempt before, if any.
    public static func deadlineExceeded(lastError: AWSClientError?) -> Self {
        Self(.deadlineExceeded, cause: lastError)
    }
    /// The response arrived but did not have the shape the service model promises; `cause` is the decoder's error.
    public static func invalidResponse(_ cause: any Error) -> Self { Self(.invalidResponse, cause: cause) }
    /// The response arrived but did not have the shape the service model promises, as `detail` says.
    public static func invalidResponse(_ detail: String) -> Self {
        Self(.invalidResponse, cause: AWSResponseShapeError(detail: detail))
    }
    /// A paginated operation's pages would never end, or list more than the caller can hold.
    public static func pagination(_ error: PaginationError) -> Self { Self(.pagination, cause: error) }
    /// The caller's task was cancelled (shutdown, or a sibling call failed first): nothing went wrong with AWS.
    public static let cancelled = Self(.cancelled, cause: nil)

    /// The service's error, when the service answered with one.
    public var serviceError: AWSServiceError? { code == .service ? cause as? AWSServiceError : nil }
    /// The transport's error, when no usable response arrived.
    public var transportError: AWSTransportError? { code == .transport ? cause as? AWSTransportError : nil }
    /// The credential provider's error, when there was nothing to sign with.
    public var credentialsError: AWSCredentialsError? {
        code == .credentials ? cause as? AWSCredentialsError : nil
    }
    /// The pagination's error, when pages would never end or list too much.
    public var paginationError: PaginationError? { code == .pagination ? cause as? PaginationError : nil }
    /// Whether the caller's deadline ended the call.
    public var isDeadlineExceeded: Bool { code == .deadlineExceeded }
    /// The error of the attempt before the deadline ended the call, if there was one.
    public var lastErrorBeforeDeadline: AWSClientError? {
        code == .deadlineExceeded ? cause as? AWSClientError : nil
    }
    /// Whether a response arrived whose body is not what the model promises.
    public var isInvalidResponse: Bool { code == .invalidResponse }
    /// Whether the call ended because its caller's task was cancelled, not because of AWS: observers count no error
    /// for it.
    public var isCancellation: Bool { code == .cancelled }

    public var description: String {
        switch code {
        case .service: "service error \(cause.map { String(describing: $0) } ?? "")"
        case .transport, .credentials, .pagination: cause.map { String(describing: $0) } ?? "\(code)"
        case .deadlineExceeded: "deadline exceeded" + (cause.map { " (last error: \($0))" } ?? "")
        case .invalidResponse: "invalid response: " + (cause.map { String(describing: $0) } ?? "")
        case .cancelled: "cancelled"
        }
    }
}

/// What an operation's decoder says is missing or wrong in a response, when no decoder error says it.
public struct AWSResponseShapeError: Error, Sendable, Equatable, CustomStringConvertible {
    public let detail: String

    public init(detail: String) {
        self.detail = detail
    }

    public var description: String { detail }
}
