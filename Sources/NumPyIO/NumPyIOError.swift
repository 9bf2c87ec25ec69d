/// A failure reading or writing NumPy files. `description` is one line naming the file,
/// the array (when there is one) and what is wrong, as the command line prints it.
public struct NumPyIOError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var array: String?
    public var problem: String

    public init(file: String, array: String? = nil, _ problem: String) {
        self.file = file
        self.array = array
        self.problem = problem
    }

    public var description: String {
        oneLine(array.map { "\(file): array '\($0)': \(problem)" } ?? "\(file): \(problem)")
    }
}
