import Crypto

/// One operation as its service model describes it: the name it is sent and counted under, the errors the model
/// lists for it (counted from the start, at 0), whether it is signed, and how to read a successful response. Every
/// call the client makes is one of these; nothing is sent by a bare name.
public struct AWSOperation<Output: Sendable>: Sendable {
    public let name: String
    public let modeledErrors: [String]
    /// `false` for the operations the model marks `"authtype": "none"` (`AssumeRoleWithWebIdentity`: the token is
    /// the proof).
    public let signed: Bool
    public let decode: @Sendable ([UInt8]) throws -> Output

    public init(
        name: String, modeledErrors: [String], signed: Bool = true,
        decode: @escaping @Sendable ([UInt8]) throws -> Output
    ) {
        self.name = name
        self.modeledErrors = modeledErrors
        self.signed = signed
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

    /// The items of every page, fetched one after another, and the number of pages. Only the items are kept: a page's
    /// token is dropped once its digest is recorded (loop detection keeps 32 bytes per token whatever the service
    /// sends), so memory is bounded by `maxItems` and one page. Pages that would never end, or that list more than
    /// `maxItems`, throw ``AWSClientError/pagination(_:)``; anything `fetch` throws is thrown as it is.
    public func items<Page: Sendable, Item: Sendable>(
        of operation: String,
        maxItems: Int = .max,
        fetch: (_ token: String?) async throws -> Page,
        nextToken: (Page) -> String?,
        items pageItems: (Page) -> [Item]
    ) async throws -> (items: [Item], pages: Int) {
        var items: [Item] = []
        var pages = 0
        var seenTokens: Set<SHA256Digest> = []
        var token: String?
        repeat {
            guard pages < maxPages else {
                throw AWSClientError.pagination(.init(operation: operation, kind: .tooManyPages(limit: maxPages)))
            }
            let page = try await fetch(token)
            pages += 1
            let listed = pageItems(page)
            guard listed.count <= maxItems - items.count else {
                throw AWSClientError.pagination(.init(operation: operation, kind: .tooManyItems(limit: maxItems)))
            }
            items += listed
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
                        .init(operation: operation, kind: .repeatedToken(afterPages: pages)))
                }
            }
        } while token != nil
        return (items, pages)
    }
}

/// The service's pagination went wrong in a way that would otherwise loop forever.
public struct PaginationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case repeatedToken(afterPages: Int)
        case tooManyPages(limit: Int)
        case tokenTooLong(length: Int, limit: Int)
        /// More items than the caller can hold: a listing this long is refused rather than read into memory.
        case tooManyItems(limit: Int)
    }

    public let operation: String
    public let kind: Kind

    public init(operation: String, kind: Kind) {
        self.operation = operation
        self.kind = kind
    }

    /// The name a loop is counted under in the error counters.
    public static let loopExceptionName = "PaginationLoop"

    /// The name a listing longer than the caller's bound is counted under.
    public static let tooManyItemsExceptionName = "TooManyItems"

    /// The name this failure is counted under: a loop, a token no valid response carries, or a listing too long.
    public var exceptionName: String {
        switch kind {
        case .tokenTooLong: "InvalidResponse"
        case .tooManyItems: Self.tooManyItemsExceptionName
        case .repeatedToken, .tooManyPages: Self.loopExceptionName
        }
    }

    public var description: String {
        switch kind {
        case .repeatedToken(let pages):
            "\(operation) returned a NextToken it had returned before (after \(pages) pages)"
        case .tooManyPages(let limit): "\(operation) did not finish within \(limit) pages"
        case .tokenTooLong(let length, let limit):
            "\(operation) returned a NextToken of \(length) bytes, longer than the model's \(limit)"
        case .tooManyItems(let limit): "\(operation) listed more than \(limit) items"
        }
    }
}
