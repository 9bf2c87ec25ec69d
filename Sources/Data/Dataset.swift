import NumPyIO

/// A labelled image data set in CIFAR-10's layout: uint8 [N, 3, 32, 32] channel planes.
public struct LabelledImages: Sendable {
    public var pixels: [UInt8]
    public var labels: [Int64]
    public var height = 32, width = 32

    public var count: Int { labels.count }
    public var imageSize: Int { 3 * height * width }

    public init(pixels: [UInt8], labels: [Int64], height: Int = 32, width: Int = 32) {
        precondition(pixels.count == labels.count * 3 * height * width)
        self.pixels = pixels
        self.labels = labels
        self.height = height
        self.width = width
    }

    /// The first n images.
    public func prefix(_ n: Int) -> LabelledImages {
        let m = min(n, count)
        return LabelledImages(pixels: Array(pixels[0..<m * imageSize]), labels: Array(labels[0..<m]), height: height, width: width)
    }

    public func image(_ i: Int) -> ArraySlice<UInt8> { pixels[i * imageSize..<(i + 1) * imageSize] }
}

/// Train and test splits with class names.
public struct DataSplits: Sendable {
    public var name: String
    public var train: LabelledImages
    public var test: LabelledImages
    public var classNames: [String]

    public init(name: String, train: LabelledImages, test: LabelledImages, classNames: [String]) {
        self.name = name
        self.train = train
        self.test = test
        self.classNames = classNames
    }
}

/// A data problem with a one-line message naming the file.
public struct DataError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = oneLine(description) }
}
