import Kernels
import ModelKit

// The ONNX-based models compute in fp32 on whichever path this CPU has (their load logs say
// which). Kept apart from the model files so that the kernel report is in one place.

extension LoadedTerrainDiffusion {
    var kernelPath: String? { KernelPath.current.summary(bf16Requested: false) }
}

extension LoadedRIFEInterpolation {
    var kernelPath: String? { KernelPath.current.summary(bf16Requested: false) }
}

extension LoadedONNXManifestModel {
    var kernelPath: String? { KernelPath.current.summary(bf16Requested: false) }
}
