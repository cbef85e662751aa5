/// Zero padding around a 2-D input, in pixels; sides may differ (asymmetric padding).
public struct Padding: Sendable, Hashable {
    /// Rows added above.
    public var top: Int
    /// Columns added on the left.
    public var left: Int
    /// Rows added below.
    public var bottom: Int
    /// Columns added on the right.
    public var right: Int

    /// Padding with each side given.
    public init(top: Int, left: Int, bottom: Int, right: Int) {
        self.top = top
        self.left = left
        self.bottom = bottom
        self.right = right
    }

    /// The same padding on every side.
    public init(_ all: Int) {
        self.init(top: all, left: all, bottom: all, right: all)
    }

    /// No padding.
    public static let zero = Padding(0)
}

/// The geometry of a 2-D convolution or deconvolution (weights not included).
public struct ConvolutionParameters: Sendable, Hashable {
    /// Input channels (all groups together).
    public var inputChannels: Int
    /// Output channels (all groups together).
    public var outputChannels: Int
    /// Kernel height.
    public var kernelHeight: Int
    /// Kernel width.
    public var kernelWidth: Int
    /// Vertical stride.
    public var strideY: Int
    /// Horizontal stride.
    public var strideX: Int
    /// Vertical dilation (1 = dense kernel).
    public var dilationY: Int
    /// Horizontal dilation.
    public var dilationX: Int
    /// Zero padding of the input (convolution) or cropping of the output (deconvolution).
    public var padding: Padding
    /// Channel groups; `groups == inputChannels` is a depthwise convolution.
    public var groups: Int

    /// Creates parameters; square kernel, stride and dilation by default.
    /// - Parameters:
    ///   - inputChannels: input channels.
    ///   - outputChannels: output channels.
    ///   - kernel: kernel (height, width).
    ///   - stride: (y, x) strides.
    ///   - dilation: (y, x) dilations.
    ///   - padding: zero padding (convolution) or output cropping (deconvolution).
    ///   - groups: channel groups; both channel counts must be divisible by it.
    public init(inputChannels: Int, outputChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                dilation: (Int, Int) = (1, 1), padding: Padding = .zero, groups: Int = 1) {
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        kernelHeight = kernel.0
        kernelWidth = kernel.1
        strideY = stride.0
        strideX = stride.1
        dilationY = dilation.0
        dilationX = dilation.1
        self.padding = padding
        self.groups = groups
    }

    /// Input channels per group.
    public var inputChannelsPerGroup: Int { inputChannels / groups }
    /// Output channels per group.
    public var outputChannelsPerGroup: Int { outputChannels / groups }

    /// Throws unless every extent is positive and the channels divide into the groups.
    /// - Throws: ``KernelError`` naming `op`.
    public func validate(op: String) throws {
        guard inputChannels > 0, outputChannels > 0, kernelHeight > 0, kernelWidth > 0,
              strideY > 0, strideX > 0, dilationY > 0, dilationX > 0, groups > 0,
              padding.top >= 0, padding.left >= 0, padding.bottom >= 0, padding.right >= 0 else {
            throw KernelError(.invalidParameter, "\(op): invalid parameters \(self)")
        }
        guard inputChannels % groups == 0, outputChannels % groups == 0 else {
            throw KernelError(.invalidParameter,
                "\(op): channels \(inputChannels)->\(outputChannels) not divisible by \(groups) groups")
        }
    }

    /// Output (height, width) of a convolution over an input of the given size.
    public func convolutionOutputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        let eh = dilationY * (kernelHeight - 1) + 1, ew = dilationX * (kernelWidth - 1) + 1
        return ((height + padding.top + padding.bottom - eh) / strideY + 1,
                (width + padding.left + padding.right - ew) / strideX + 1)
    }

    /// Output (height, width) of a deconvolution (transposed convolution) of the given input size,
    /// before `outputPadding` is added.
    public func deconvolutionOutputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        let eh = dilationY * (kernelHeight - 1) + 1, ew = dilationX * (kernelWidth - 1) + 1
        return ((height - 1) * strideY + eh - padding.top - padding.bottom,
                (width - 1) * strideX + ew - padding.left - padding.right)
    }
}
