/// Told about every HTTP attempt, retries included, so its owner can count requests and errors.
public protocol AWSRequestObserver: Sendable {
    /// One attempt finished; `error` is nil on success.
    func attemptFinished(operation: String, duration: Duration, error: AWSClientError?)
    /// The call failed before an attempt could be sent (no credentials, no time left).
    func callFailedBeforeSending(operation: String, error: AWSClientError)
}

extension AWSClientError {
    /// The name this error is counted under: the service's code, or a fixed name for failures below it.
    public var exceptionName: String {
        if let serviceError { return serviceError.code }
        if let transportError {
            switch transportError {
            case .connection: return "ConnectionError"
            case .timeout, .paced: return "Timeout"
            case .invalidResponse: return "InvalidResponse"
            case .invalidRequest: return "InvalidRequest"
            }
        }
        if credentialsError != nil { return "CredentialsError" }
        if let paginationError { return paginationError.exceptionName }
        if isDeadlineExceeded { return "Timeout" }
        if isCancellation { return "Cancelled" }
        return "InvalidResponse"
    }
}
