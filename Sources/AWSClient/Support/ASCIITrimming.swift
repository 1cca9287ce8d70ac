extension StringProtocol {
    /// The string without leading and trailing ASCII spaces, tabs, CR and LF.
    ///
    /// AWS wire values (error codes, header values, INI entries) only ever pad with ASCII whitespace, and this keeps
    /// the library on FoundationEssentials, whose `String` has no `trimmingCharacters(in:)`.
    public func trimmingASCIIWhitespace() -> SubSequence {
        let isPadding: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        guard let first = firstIndex(where: { !isPadding($0) }) else { return self[endIndex..<endIndex] }
        let last = lastIndex(where: { !isPadding($0) })!
        return self[first...last]
    }
}
