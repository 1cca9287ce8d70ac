/// Told about every HTTP attempt, retries included, so the exporter can count requests and errors.
public protocol AWSRequestObserver: Sendable {
    /// One attempt finished; `error` is nil on success.
    func attemptFinished(operation: String, duration: Duration, error: AWSClientError?)
    /// The call failed before an attempt could be sent (no credentials, no time left).
    func callFailedBeforeSending(operation: String, error: AWSClientError)
}

extension AWSClientError {
    /// The name this error is counted under: the service's code, or a fixed name for failures below it.
    public var exceptionName: String {
        switch self {
        case .service(let error): error.code
        case .transport(.connection): "ConnectionError"
        case .transport(.timeout), .deadlineExceeded: "Timeout"
        case .transport(.invalidResponse), .invalidResponse: "InvalidResponse"
        case .transport(.invalidRequest): "InvalidRequest"
        case .credentials: "CredentialsError"
        case .pagination(let error): error.exceptionName
        case .cancelled: "Cancelled"
        }
    }

    /// Whether the call ended because its caller's task was cancelled, not because of AWS: observers count no error
    /// for it.
    public var isCancellation: Bool {
        if case .cancelled = self { return true }
        return false
    }
}
