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

/// Everything an AWS call, or a paginated series of calls, can fail with: the one error the module's calls throw,
/// in the categories metrics and retries distinguish, with the cause kept as a value down to its details.
public indirect enum AWSClientError: Error, Sendable, CustomStringConvertible {
    case service(AWSServiceError)
    case transport(AWSTransportError)
    case credentials(AWSCredentialsError)
    /// The caller's deadline left no time for another attempt; the error of the attempt before, if any.
    case deadlineExceeded(lastError: AWSClientError?)
    /// The response arrived but did not have the shape the service model promises.
    case invalidResponse(String)
    /// A paginated operation's pages would never end.
    case pagination(PaginationError)
    /// The caller's task was cancelled (shutdown, or a sibling call failed first): nothing went wrong with AWS.
    case cancelled

    public var description: String {
        switch self {
        case .service(let error): "service error \(error)"
        case .transport(let error): String(describing: error)
        case .credentials(let error): String(describing: error)
        case .deadlineExceeded(let last):
            "deadline exceeded" + (last.map { " (last error: \($0))" } ?? "")
        case .invalidResponse(let detail): "invalid response: \(detail)"
        case .pagination(let error): error.description
        case .cancelled: "cancelled"
        }
    }
}
