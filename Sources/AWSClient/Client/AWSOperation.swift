import Crypto

/// One operation as its service model describes it: the name it is sent and counted under, the errors the model
/// lists for it (counted from the start, at 0), and how to read a successful response.
public struct AWSOperation<Output: Sendable>: Sendable {
    public let name: String
    public let modeledErrors: [String]
    public let decode: @Sendable ([UInt8]) throws -> Output

    public init(name: String, modeledErrors: [String], decode: @escaping @Sendable ([UInt8]) throws -> Output) {
        self.name = name
        self.modeledErrors = modeledErrors
        self.decode = decode
    }
}

/// Follows a paginated operation's token to the end for any service, guarding against a service that repeats a
/// token, sends one no valid response carries, or never stops.
public struct AWSPaginator: Sendable {
    /// A listing that needs more pages than this is treated as a loop.
    public let maxPages: Int
    /// The longest token the operation's model allows.
    public let maxTokenLength: Int

    public init(maxPages: Int = 10_000, maxTokenLength: Int) {
        self.maxPages = maxPages
        self.maxTokenLength = maxTokenLength
    }

    /// Every page, fetched one after another. Loop detection keeps a 32-byte digest per token rather than the token,
    /// so memory stays bounded by the page count whatever the service sends. Pages that would never end throw
    /// ``AWSClientError/pagination(_:)``; anything `fetch` throws is thrown as it is.
    public func pages<Page: Sendable>(
        of operation: String,
        fetch: (_ token: String?) async throws -> Page,
        nextToken: (Page) -> String?
    ) async throws -> [Page] {
        var pages: [Page] = []
        var seenTokens: Set<SHA256Digest> = []
        var token: String?
        repeat {
            guard pages.count < maxPages else {
                throw AWSClientError.pagination(.init(operation: operation, kind: .tooManyPages(limit: maxPages)))
            }
            let page = try await fetch(token)
            pages.append(page)
            token = nextToken(page).flatMap { $0.isEmpty ? nil : $0 }
            if let next = token {
                guard next.utf8.count <= maxTokenLength else {
                    throw AWSClientError.pagination(
                        .init(
                            operation: operation,
                            kind: .tokenTooLong(length: next.utf8.count, limit: maxTokenLength)))
                }
                guard seenTokens.insert(SHA256.hash(data: Array(next.utf8))).inserted else {
                    throw AWSClientError.pagination(
                        .init(operation: operation, kind: .repeatedToken(afterPages: pages.count)))
                }
            }
        } while token != nil
        return pages
    }
}

/// The service's pagination went wrong in a way that would otherwise loop forever.
public struct PaginationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case repeatedToken(afterPages: Int)
        case tooManyPages(limit: Int)
        case tokenTooLong(length: Int, limit: Int)
    }

    public let operation: String
    public let kind: Kind

    public init(operation: String, kind: Kind) {
        self.operation = operation
        self.kind = kind
    }

    /// The name a loop is counted under in the error counters.
    public static let loopExceptionName = "PaginationLoop"

    /// The name this failure is counted under: a loop, or a token no valid response carries.
    public var exceptionName: String {
        if case .tokenTooLong = kind { return "InvalidResponse" }
        return Self.loopExceptionName
    }

    public var description: String {
        switch kind {
        case .repeatedToken(let pages):
            "\(operation) returned a NextToken it had returned before (after \(pages) pages)"
        case .tooManyPages(let limit): "\(operation) did not finish within \(limit) pages"
        case .tokenTooLong(let length, let limit):
            "\(operation) returned a NextToken of \(length) bytes, longer than the model's \(limit)"
        }
    }
}
